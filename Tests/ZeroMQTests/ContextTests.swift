import Foundation
import Testing
import ZeroMQ

@Suite struct ContextTests {
    @Test func closingTheContextWakesABlockedReceiveWithETERM() throws {
        let context = try ZMQContext()
        let endpoint = uniqueInprocEndpoint("term")
        let blocking = Signal()

        let receiver = ThreadOutcome { () -> Result<[UInt8]?, ZMQError> in
            Result { () throws(ZMQError) -> [UInt8]? in
                let socket = try context.socket(.pull)
                // A bound on the wait, so a missing ETERM fails instead of hanging.
                try socket.set(.rcvtimeo, 5000)
                try socket.bind(endpoint)
                blocking.fire()
                return try socket.receive()
                // The socket closes here, which lets close() below return.
            }
        }
        #expect(blocking.wait(seconds: 5))
        // Let the receiver actually block before terminating.
        let closer = ThreadOutcome { () -> Bool in
            usleep(100_000)
            context.close()
            return context.isClosed
        }

        let outcome = try #require(receiver.wait(seconds: 8))
        #expect(throws: ZMQError.contextTerminated) { try outcome.get() }
        #expect(closer.wait(seconds: 5) == true)

        // A closed context refuses new sockets.
        #expect(throws: ZMQError.contextTerminated) { try context.socket(.pub) }
    }

    @Test func shutdownWakesABlockedPollWithoutWaiting() throws {
        let context = try ZMQContext()
        let ready = Signal()
        let poller = ThreadOutcome { () -> ZMQError? in
            do throws(ZMQError) {
                let socket = try context.socket(.sub)
                try socket.bind(uniqueInprocEndpoint("shutdown"))
                var poller = ZMQPoller()
                poller.register(socket)
                ready.fire()
                _ = try poller.poll(timeoutMilliseconds: 5000)
                return nil
            } catch {
                return error
            }
        }
        #expect(ready.wait(seconds: 5))
        usleep(50_000)
        context.shutdown()
        #expect(poller.wait(seconds: 5) == .some(.contextTerminated))
        #expect(!context.isClosed)
        context.close()
        #expect(context.isClosed)
    }

    @Test func socketsOutliveTheirLastContextReference() throws {
        // The socket keeps the context alive: dropping our reference first must not
        // terminate the context under the open socket.
        var context: ZMQContext? = try ZMQContext()
        let socket = try context!.socket(.pair)
        context = nil
        try socket.bind(uniqueInprocEndpoint("orphan"))
        #expect(try socket.lastEndpoint.hasPrefix("inproc://orphan"))
        socket.close()
        #expect(socket.isClosed)
        let error = #expect(throws: ZMQError.self) { try socket.bind("inproc://closed") }
        #expect(error?.code == ENOTSOCK)
    }

    @Test func versionAndCapabilities() {
        #expect(ZMQ.version >= ZMQ.Version(major: 4, minor: 0, patch: 0))
        #expect(ZMQ.version.description.split(separator: ".").count == 3)
        #expect(!ZMQ.has("no-such-capability"))
    }
}
