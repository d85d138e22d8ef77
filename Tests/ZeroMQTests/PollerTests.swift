import Foundation
import Testing
import ZeroMQ

@Suite struct PollerTests {
    @Test func pollerReportsReadableSocketsAndTimesOut() throws {
        let context = try ZMQContext()
        let endpoint = uniqueInprocEndpoint("poll")
        let left = try context.socket(.pair)
        try left.bind(endpoint)
        let right = try context.socket(.pair)
        try right.connect(endpoint)

        var poller = ZMQPoller()
        poller.register(left)
        poller.register(right)

        let start = ContinuousClock.now
        let idle = try poller.poll(timeoutMilliseconds: 100)
        let waited = ContinuousClock.now - start
        #expect(idle.isEmpty)
        #expect(waited >= .milliseconds(90))

        try left.send("ping")
        let ready = try poller.poll(timeoutMilliseconds: 2000)
        #expect(ready.count == 1)
        #expect(ready.isReadable(right))
        #expect(!ready.isReadable(left))
        #expect(try right.receive(dontWait: true) == "ping".bytes)

        // Drained: nothing is readable any more.
        #expect(try poller.poll(timeoutMilliseconds: 0).isEmpty)

        // A connected PAIR socket can send.
        var writePoller = ZMQPoller()
        writePoller.register(left, for: [.readable, .writable])
        let writable = try writePoller.poll(timeoutMilliseconds: 1000)
        #expect(writable.events(for: left) == .writable)
    }

    @Test func pollerWatchesFileDescriptors() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.pull)
        try socket.bind(uniqueInprocEndpoint("fd"))
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }

        var poller = ZMQPoller()
        poller.register(socket)
        poller.register(fileDescriptor: fds[0])
        #expect(try poller.poll(timeoutMilliseconds: 20).isEmpty)

        var byte: UInt8 = 7
        #expect(write(fds[1], &byte, 1) == 1)
        let ready = try poller.poll(timeoutMilliseconds: 1000)
        #expect(ready.events(forFileDescriptor: fds[0]) == .readable)
        #expect(!ready.isReadable(socket))

        poller.unregister(fileDescriptor: fds[0])
        #expect(try poller.poll(timeoutMilliseconds: 0).isEmpty)
    }

    @Test func pollingAClosedSocketFails() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.pull)
        var poller = ZMQPoller()
        poller.register(socket)
        socket.close()
        let error = #expect(throws: ZMQError.self) {
            try poller.poll(timeoutMilliseconds: 0)
        }
        #expect(error?.code == ENOTSOCK)
    }
}
