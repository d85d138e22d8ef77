import Foundation
import Testing
import ZeroMQ

@Suite struct RouterDealerTests {
    @Test func routerRoutesRepliesBackToTheRightDealer() throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.set(.rcvtimeo, 2000)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint

        var dealers: [String: ZMQSocket] = [:]
        for name in ["alpha", "beta"] {
            let dealer = try context.socket(.dealer)
            try dealer.set(.routingId, name.bytes)
            try dealer.set(.rcvtimeo, 2000)
            try dealer.connect(endpoint)
            dealers[name] = dealer
        }
        // One dealer sends [UInt8] frames, the other Data frames.
        try dealers["alpha"]!.sendMultipart(["hello".bytes, "alpha".bytes])
        try dealers["beta"]!.sendMultipart([Data("hello".utf8), Data("beta".utf8)])

        for _ in 0..<2 {
            let request = try #require(try router.receiveMultipart())
            #expect(request.count == 3)
            let identity = request[0]
            // The routing id frame names the sender the payload claims to be.
            #expect(identity == request[2])
            try router.sendMultipart([identity, "reply".bytes, identity])
        }

        for (name, dealer) in dealers {
            let reply = try #require(try dealer.receiveMultipartData())
            #expect(reply == [Data("reply".utf8), Data(name.utf8)])
            #expect(try dealer.receiveMultipart(dontWait: true) == nil)
        }
    }

    @Test func routerMandatoryReportsAnUnknownPeer() throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.bind("tcp://127.0.0.1:*")

        // By default a ROUTER drops a message for an unknown peer silently...
        #expect(try router.sendMultipart(["ghost".bytes, "boo".bytes]))

        // ...and with routerMandatory it says so.
        try router.set(.routerMandatory, true)
        let error = #expect(throws: ZMQError.self) {
            try router.sendMultipart(["ghost".bytes, "boo".bytes])
        }
        #expect(error?.code == EHOSTUNREACH)
        #expect(error != .contextTerminated)
    }

    @Test func requestReplyRoundTrip() throws {
        let context = try ZMQContext()
        let server = try context.socket(.rep)
        try server.bind("tcp://127.0.0.1:*")
        try server.set(.rcvtimeo, 2000)
        let client = try context.socket(.req)
        try client.set(.rcvtimeo, 2000)
        try client.connect(try server.lastEndpoint)

        try client.send("ping", more: true)
        try client.send("1")
        #expect(try server.receive() == "ping".bytes)
        #expect(try server.hasMore)
        #expect(try server.receive() == "1".bytes)
        #expect(try !server.hasMore)
        try server.send("pong")
        #expect(try client.receiveMultipart() == ["pong".bytes])
    }
}
