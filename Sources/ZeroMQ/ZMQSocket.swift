import CZMQ

/// A libzmq socket.
///
/// Deliberately not `Sendable`: libzmq sockets are not thread-safe, and sharing
/// one between threads corrupts it in ways that surface far from the cause.
/// Create each socket on the thread that uses it and keep it there; to pass
/// work between threads, connect a pair of sockets over `inproc://` instead.
///
/// The socket closes when it is deinitialized or `close()` is called, and keeps
/// its context alive until then, because terminating a context waits for all of
/// its sockets to be closed.
public final class ZMQSocket {
    /// The messaging pattern this socket takes part in.
    public let kind: Kind

    /// The context this socket was created from.
    public let context: ZMQContext

    /// The libzmq socket; `nil` once closed.
    private(set) var pointer: UnsafeMutableRawPointer?

    /// Creates a socket in `context`.
    public init(context: ZMQContext, kind: Kind) throws(ZMQError) {
        self.pointer = try context.makeSocketPointer(type: kind.zmqType)
        self.kind = kind
        self.context = context
    }

    deinit {
        close()
    }

    /// Closes the socket; pending outgoing messages are kept for the `.linger`
    /// period. Later calls on this socket fail with `ENOTSOCK`. Closing twice
    /// does nothing.
    public func close() {
        guard let pointer else {
            return
        }
        self.pointer = nil
        _ = zmq_close(pointer)
    }

    /// Whether `close()` has been called.
    public var isClosed: Bool {
        pointer == nil
    }

    /// The open libzmq socket, or `ENOTSOCK` if it was closed.
    func openPointer() throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let pointer else {
            throw ZMQError(code: ENOTSOCK)
        }
        return pointer
    }

    // MARK: - Endpoints

    /// Accepts connections on `endpoint`, e.g. `tcp://127.0.0.1:5555` or
    /// `inproc://name`. `tcp://127.0.0.1:*` picks a free port; read it back from
    /// `lastEndpoint`.
    public func bind(_ endpoint: String) throws(ZMQError) {
        try check(zmq_bind(openPointer(), endpoint))
    }

    /// Stops accepting connections on an endpoint given to `bind`. For a
    /// wildcard bind, pass the resolved `lastEndpoint`, not the wildcard.
    public func unbind(_ endpoint: String) throws(ZMQError) {
        try check(zmq_unbind(openPointer(), endpoint))
    }

    /// Connects to `endpoint`. Returns at once: libzmq connects, and
    /// reconnects, in the background.
    public func connect(_ endpoint: String) throws(ZMQError) {
        try check(zmq_connect(openPointer(), endpoint))
    }

    /// Drops a connection made by `connect`.
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        try check(zmq_disconnect(openPointer(), endpoint))
    }

    /// The endpoint this socket last bound or connected to, with wildcards
    /// resolved (`tcp://127.0.0.1:41235` for `tcp://127.0.0.1:*`); empty before
    /// any bind or connect.
    public var lastEndpoint: String {
        get throws(ZMQError) {
            try get(.lastEndpoint)
        }
    }

    // MARK: - Subscriptions

    /// Makes a SUB socket receive messages whose first frame starts with
    /// `prefix`. The empty prefix, the default, matches every message.
    public func subscribe(to prefix: [UInt8] = []) throws(ZMQError) {
        try set(.subscribe, prefix)
    }

    /// Makes a SUB socket receive messages whose first frame starts with the
    /// UTF-8 bytes of `topic`.
    public func subscribe(to topic: String) throws(ZMQError) {
        try subscribe(to: Array(topic.utf8))
    }

    /// Removes one earlier `subscribe(to:)` of the same prefix.
    public func unsubscribe(from prefix: [UInt8] = []) throws(ZMQError) {
        try set(.unsubscribe, prefix)
    }

    /// Removes one earlier `subscribe(to:)` of the same topic.
    public func unsubscribe(from topic: String) throws(ZMQError) {
        try unsubscribe(from: Array(topic.utf8))
    }
}

@available(*, unavailable, message: "libzmq sockets are not thread-safe: create one per thread")
extension ZMQSocket: Sendable {}
