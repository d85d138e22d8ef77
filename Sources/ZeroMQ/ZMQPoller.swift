import CZMQ
import Foundation

/// Waits on several sockets, and optionally plain file descriptors, at once
/// (`zmq_poll`), so one thread can serve them all without busy-looping.
///
/// Holds its sockets, so like them it belongs to one thread.
public struct ZMQPoller {
    private enum Target {
        case socket(ZMQSocket)
        case fileDescriptor(Int32)
    }

    private var items: [(target: Target, events: ZMQPollEvents)] = []

    public init() {}

    /// Watches `socket` for `events`. Registering it again replaces its events.
    public mutating func register(_ socket: ZMQSocket, for events: ZMQPollEvents = .readable) {
        unregister(socket)
        items.append((.socket(socket), events))
    }

    /// Watches a file descriptor (a pipe, a signal fd...) for `events`.
    /// Registering it again replaces its events.
    public mutating func register(fileDescriptor: Int32, for events: ZMQPollEvents = .readable) {
        unregister(fileDescriptor: fileDescriptor)
        items.append((.fileDescriptor(fileDescriptor), events))
    }

    /// Stops watching `socket`.
    public mutating func unregister(_ socket: ZMQSocket) {
        items.removeAll { item in
            if case .socket(let registered) = item.target { registered === socket } else { false }
        }
    }

    /// Stops watching a file descriptor.
    public mutating func unregister(fileDescriptor: Int32) {
        items.removeAll { item in
            if case .fileDescriptor(let registered) = item.target { registered == fileDescriptor } else { false }
        }
    }

    /// Waits until at least one item is ready or the timeout passes.
    ///
    /// - Parameter timeoutMilliseconds: 0 checks without waiting; -1 waits forever.
    /// - Returns: What is ready; empty when the timeout passed first.
    /// - Throws: `ZMQError.contextTerminated` when a socket's context is shut
    ///   down, `ENOTSOCK` when a registered socket was closed.
    public func poll(timeoutMilliseconds: Int) throws(ZMQError) -> ZMQPollResult {
        var pollItems: [zmq_pollitem_t] = []
        pollItems.reserveCapacity(items.count)
        for item in items {
            switch item.target {
            case .socket(let socket):
                pollItems.append(zmq_pollitem_t(socket: try socket.openPointer(), fd: -1, events: item.events.rawValue, revents: 0))
            case .fileDescriptor(let fd):
                pollItems.append(zmq_pollitem_t(socket: nil, fd: fd, events: item.events.rawValue, revents: 0))
            }
        }

        // A signal interrupts zmq_poll; retry with whatever time is left.
        let start = ContinuousClock.now
        var remaining = timeoutMilliseconds
        while true {
            let count = pollItems.withUnsafeMutableBufferPointer { buffer in
                zmq_poll(buffer.baseAddress, Int32(buffer.count), remaining)
            }
            if count >= 0 {
                break
            }
            let code = zmq_errno()
            guard code == EINTR else {
                throw ZMQError(code: code)
            }
            if timeoutMilliseconds > 0 {
                let elapsedMilliseconds = (ContinuousClock.now - start) / .milliseconds(1)
                remaining = max(0, timeoutMilliseconds - Int(elapsedMilliseconds))
            }
        }

        var result = ZMQPollResult()
        for (item, pollItem) in zip(items, pollItems) where pollItem.revents != 0 {
            let events = ZMQPollEvents(rawValue: pollItem.revents)
            switch item.target {
            case .socket(let socket):
                result.socketEvents[ObjectIdentifier(socket)] = events
            case .fileDescriptor(let fd):
                result.fileDescriptorEvents[fd] = events
            }
        }
        return result
    }
}

/// The items a `ZMQPoller.poll(timeoutMilliseconds:)` found ready.
public struct ZMQPollResult: Sendable {
    fileprivate var socketEvents: [ObjectIdentifier: ZMQPollEvents] = [:]
    fileprivate var fileDescriptorEvents: [Int32: ZMQPollEvents] = [:]

    /// Nothing was ready: the poll timed out.
    public var isEmpty: Bool {
        socketEvents.isEmpty && fileDescriptorEvents.isEmpty
    }

    /// How many items were ready.
    public var count: Int {
        socketEvents.count + fileDescriptorEvents.count
    }

    /// The ready events of `socket`; empty when it was not ready or not registered.
    public func events(for socket: ZMQSocket) -> ZMQPollEvents {
        socketEvents[ObjectIdentifier(socket)] ?? []
    }

    /// The ready events of a file descriptor; empty when it was not ready or not registered.
    public func events(forFileDescriptor fileDescriptor: Int32) -> ZMQPollEvents {
        fileDescriptorEvents[fileDescriptor] ?? []
    }

    /// Whether `socket` has a message to receive.
    public func isReadable(_ socket: ZMQSocket) -> Bool {
        events(for: socket).contains(.readable)
    }

    /// Whether `socket` can queue a message without blocking.
    public func isWritable(_ socket: ZMQSocket) -> Bool {
        events(for: socket).contains(.writable)
    }
}
