import Foundation
import Testing
import ZeroMQ

@Suite struct PushPullTests {
    @Test func pushAndPullOnTwoThreadsOverInproc() throws {
        let context = try ZMQContext()
        let endpoint = uniqueInprocEndpoint("pipeline")
        let count = 200
        let bound = Signal()

        // Each socket is created on the thread that uses it.
        let puller = ThreadOutcome { () -> Result<[String], ZMQError> in
            Result { () throws(ZMQError) -> [String] in
                let pull = try context.socket(.pull)
                try pull.set(.rcvtimeo, 3000)
                try pull.bind(endpoint)
                bound.fire()
                var received: [String] = []
                while received.count < count, let frame = try pull.receive() {
                    received.append(frame.text)
                }
                return received
            }
        }
        let pusher = ThreadOutcome { () -> Result<Void, ZMQError> in
            Result { () throws(ZMQError) in
                guard bound.wait(seconds: 5) else { return }
                let push = try context.socket(.push)
                // The context defaults to linger 0: keep what is queued alive
                // after this thread closes the socket.
                try push.set(.linger, 2000)
                try push.connect(endpoint)
                for index in 0..<count {
                    try push.send("message \(index)")
                }
            }
        }

        let pushed = try #require(pusher.wait(seconds: 10))
        try pushed.get()
        let pulled = try #require(puller.wait(seconds: 10))
        #expect(try pulled.get() == (0..<count).map { "message \($0)" })
    }

    @Test func dontWaitReceiveOnAnEmptySocketReturnsNil() throws {
        let context = try ZMQContext()
        let endpoint = uniqueInprocEndpoint("empty")
        let pull = try context.socket(.pull)
        try pull.bind(endpoint)
        #expect(try pull.receive(dontWait: true) == nil)
        #expect(try pull.receiveMultipart(dontWait: true) == nil)

        // Not stuck on nil: once a message is queued, dontWait returns it.
        let push = try context.socket(.push)
        try push.connect(endpoint)
        #expect(try push.sendMultipart(["a".bytes, "b".bytes], dontWait: true))
        let message = try eventually(within: 2) { () throws(ZMQError) in try pull.receiveMultipart(dontWait: true) }
        #expect(message == ["a".bytes, "b".bytes])
    }

    @Test func dontWaitSendWithoutPeerReportsNotQueued() throws {
        let context = try ZMQContext()
        let push = try context.socket(.push)
        try push.bind(uniqueInprocEndpoint("nobody"))
        // PUSH has no peer to queue to: not an error, just not queued.
        #expect(try push.send("lost", dontWait: true) == false)
        #expect(try push.sendMultipart([[1], [2]], dontWait: true) == false)
        try push.set(.sndtimeo, 20)
        #expect(try push.send("lost") == false)
    }
}
