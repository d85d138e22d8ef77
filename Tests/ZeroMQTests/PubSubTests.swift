import Foundation
import Testing
import ZeroMQ

@Suite struct PubSubTests {
    @Test func subscriberReceivesOnlyMatchingTopics() throws {
        let context = try ZMQContext()
        let publisher = try context.socket(.pub)
        try publisher.bind("tcp://127.0.0.1:*")
        let endpoint = try publisher.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(endpoint != "tcp://127.0.0.1:*")

        let subscriber = try context.socket(.sub)
        try subscriber.set(.rcvtimeo, 10)
        try subscriber.subscribe(to: "weather")
        try subscriber.connect(endpoint)

        // Slow joiner: the subscription reaches the publisher some time after
        // connect, and PUB drops what it publishes before that. Keep publishing
        // until the first matching message makes it through.
        let first = try eventually(within: 5) { () throws(ZMQError) -> [[UInt8]]? in
            try publisher.sendMultipart(["news".bytes, "warmup".bytes])
            try publisher.sendMultipart(["weather".bytes, "warmup".bytes])
            return try subscriber.receiveMultipart()
        }
        let warmup = try #require(first)
        #expect(warmup == ["weather".bytes, "warmup".bytes])

        // The subscription is live now. A non-matching message sent before the
        // marker would arrive before it (PUB/SUB keeps order) if it were not filtered.
        try publisher.sendMultipart(["news".bytes, "after".bytes])
        try publisher.sendMultipart(["weather".bytes, "final".bytes])
        try subscriber.set(.rcvtimeo, 2000)
        var topics: [String] = []
        while let message = try subscriber.receiveMultipart() {
            topics.append(message[0].text)
            if message[1].text == "final" {
                break
            }
        }
        #expect(topics.last == "weather")
        #expect(!topics.contains("news"))
        #expect(try subscriber.receiveMultipart(dontWait: true) == nil)
    }

    @Test func unsubscribedSocketStopsReceiving() throws {
        let context = try ZMQContext()
        let publisher = try context.socket(.pub)
        try publisher.bind("tcp://127.0.0.1:*")
        let subscriber = try context.socket(.sub)
        try subscriber.set(.rcvtimeo, 10)
        try subscriber.subscribe(to: [0x01])
        try subscriber.subscribe(to: [0x02])
        try subscriber.connect(try publisher.lastEndpoint)

        let joined = try eventually(within: 5) { () throws(ZMQError) -> [UInt8]? in
            try publisher.send([0x01, 0xAA])
            return try subscriber.receive()
        }
        #expect(joined == [0x01, 0xAA])

        try subscriber.unsubscribe(from: [0x01])
        // Wait until the unsubscription took effect: a 0x02 message sent after
        // a 0x01 message then arrives with no 0x01 message before it.
        let clean = try eventually(within: 5) { () throws(ZMQError) -> Bool? in
            try publisher.send([0x01, 0xBB])
            try publisher.send([0x02, 0xCC])
            var received: [[UInt8]] = []
            while let frame = try subscriber.receive() {
                received.append(frame)
                if frame[0] == 0x02 { break }
            }
            return received == [[0x02, 0xCC]] ? true : nil
        }
        #expect(clean == true)
    }
}
