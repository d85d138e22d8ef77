import CZMQ

/// What a poll waits for on an item, and what it found ready.
public struct ZMQPollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16

    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    /// A message can be received (or, for a file descriptor, data read) without blocking.
    public static let readable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent (or data written) without blocking.
    public static let writable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// Only for file descriptors: an error condition is pending.
    public static let error = ZMQPollEvents(rawValue: Int16(ZMQ_POLLERR))
}
