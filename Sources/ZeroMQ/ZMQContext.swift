import CZMQ
import Foundation

/// A libzmq context: the I/O threads and the registry of sockets.
///
/// Contexts are thread-safe in libzmq, so this type is `Sendable`: one context
/// is meant to be shared by the whole process, and each thread creates its own
/// sockets from it.
///
/// Every socket keeps its context alive, so the context is terminated when the
/// last socket and the last reference are gone, or earlier with `close()`.
public final class ZMQContext: Sendable {
    private let handle: ContextHandle

    /// Creates a context.
    ///
    /// - Parameters:
    ///   - ioThreads: Threads libzmq uses for network I/O. One is plenty below
    ///     about a gigabyte per second.
    ///   - blocky: libzmq's historic default is `true`, in which sockets linger
    ///     forever and terminating the context hangs until every queued message
    ///     is delivered to a peer that may never come. `false` gives new sockets
    ///     a linger of 0, so shutting down never hangs; set `.linger` on a socket
    ///     that must flush its last messages before it closes.
    ///   - maximumSockets: How many sockets the context may hold at once
    ///     (`ZMQ_MAX_SOCKETS`; libzmq's default is 1023, and a socket beyond it
    ///     fails with `EMFILE`). Capped at `socketLimit`.
    public init(ioThreads: Int = 1, blocky: Bool = false, maximumSockets: Int? = nil) throws(ZMQError) {
        guard let pointer = zmq_ctx_new() else {
            throw ZMQError.last
        }
        handle = ContextHandle(pointer)
        guard let threads = Int32(exactly: ioThreads) else {
            throw ZMQError(code: EINVAL)
        }
        try check(zmq_ctx_set(pointer, ZMQ_IO_THREADS, threads))
        try check(zmq_ctx_set(pointer, ZMQ_BLOCKY, blocky ? 1 : 0))
        if let maximumSockets {
            let limit = Int(zmq_ctx_get(pointer, ZMQ_SOCKET_LIMIT))
            try check(zmq_ctx_set(pointer, ZMQ_MAX_SOCKETS, Int32(clamping: max(1, min(maximumSockets, limit)))))
        }
    }

    /// The most sockets any context of the loaded libzmq can hold (`ZMQ_SOCKET_LIMIT`).
    public static var socketLimit: Int {
        guard let pointer = zmq_ctx_new() else { return 1023 }
        defer { zmq_ctx_term(pointer) }
        return Int(zmq_ctx_get(pointer, ZMQ_SOCKET_LIMIT))
    }

    /// How many sockets this context may hold at once (`ZMQ_MAX_SOCKETS`).
    public var maximumSockets: Int {
        handle.option(ZMQ_MAX_SOCKETS)
    }

    deinit {
        handle.terminate()
    }

    /// Creates a socket of this context. Equivalent to `ZMQSocket(context:kind:)`.
    public func socket(_ kind: ZMQSocket.Kind) throws(ZMQError) -> ZMQSocket {
        try ZMQSocket(context: self, kind: kind)
    }

    /// Wakes every blocking call on this context's sockets with
    /// `ZMQError.contextTerminated` and refuses new sockets, without waiting.
    ///
    /// Use it to stop I/O loops running on other threads; each loop should then
    /// close its socket. Calling it again, or after `close()`, does nothing.
    public func shutdown() {
        handle.shutdown()
    }

    /// Terminates the context: shuts it down, then blocks until every socket
    /// created from it is closed and their lingering messages are sent or dropped.
    ///
    /// Sockets in use on other threads see `ZMQError.contextTerminated` and must
    /// be closed by those threads for this call to return. Never call it on a
    /// thread that still holds an open socket of this context: it would wait for
    /// itself. Calling it again does nothing.
    public func close() {
        handle.terminate()
    }

    /// Whether `close()` has been called.
    public var isClosed: Bool {
        handle.isTerminated
    }

    /// Creates a raw libzmq socket; fails with `.contextTerminated` once the
    /// context is shut down or closed.
    func makeSocketPointer(type: Int32) throws(ZMQError) -> UnsafeMutableRawPointer {
        try handle.makeSocket(type: type)
    }
}

/// Owns the raw context pointer.
///
/// Swift imports `void *` as `UnsafeMutableRawPointer`, which is not `Sendable`.
/// This holder is `@unchecked Sendable` because libzmq contexts are documented
/// as thread-safe; its lock only guards against using the pointer after
/// `zmq_ctx_term` has freed it. Socket pointers never get such a holder: libzmq
/// sockets are not thread-safe.
private final class ContextHandle: @unchecked Sendable {
    private let pointer: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var terminated = false

    init(_ pointer: UnsafeMutableRawPointer) {
        self.pointer = pointer
    }

    var isTerminated: Bool {
        lock.lock()
        defer { lock.unlock() }
        return terminated
    }

    /// Holds the lock across `zmq_socket` (which never blocks) so termination
    /// cannot free the context in the middle of it.
    func makeSocket(type: Int32) throws(ZMQError) -> UnsafeMutableRawPointer {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else {
            throw ZMQError.contextTerminated
        }
        guard let socket = zmq_socket(pointer, type) else {
            throw ZMQError.last
        }
        return socket
    }

    func option(_ name: Int32) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return terminated ? 0 : Int(zmq_ctx_get(pointer, name))
    }

    func shutdown() {
        lock.lock()
        defer { lock.unlock() }
        if !terminated {
            _ = zmq_ctx_shutdown(pointer)
        }
    }

    /// Does not hold the lock while `zmq_ctx_term` blocks, so threads creating
    /// sockets meanwhile get `.contextTerminated` instead of hanging.
    func terminate() {
        lock.lock()
        let alreadyTerminated = terminated
        terminated = true
        lock.unlock()
        guard !alreadyTerminated else {
            return
        }
        _ = retryingInterrupts { zmq_ctx_term(pointer) }
    }
}
