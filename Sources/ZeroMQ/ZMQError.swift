import CZMQ
import Foundation

/// A failure reported by libzmq.
///
/// Termination of the context gets its own case because it is not really an
/// error for the caller: it is how libzmq tells every I/O loop that the process
/// is shutting down, so the loop should close its socket and return.
public enum ZMQError: Error, Hashable, CustomStringConvertible {
    /// The socket's context was shut down or closed (`ETERM`).
    case contextTerminated
    /// Any other failure: the `errno` value and libzmq's text for it.
    case failure(code: Int32, message: String)

    /// Maps an `errno` value to an error, with the text libzmq gives for it.
    public init(code: Int32) {
        if code == ETERM {
            self = .contextTerminated
        } else {
            self = .failure(code: code, message: String(cString: zmq_strerror(code)))
        }
    }

    /// The `errno` value behind this error (`ETERM` for `.contextTerminated`).
    public var code: Int32 {
        switch self {
        case .contextTerminated: ETERM
        case .failure(let code, _): code
        }
    }

    /// libzmq's human-readable text for `code`.
    public var message: String {
        switch self {
        case .contextTerminated: String(cString: zmq_strerror(ETERM))
        case .failure(_, let message): message
        }
    }

    public var description: String {
        "ZMQError(\(code)): \(message)"
    }

    /// The error of the libzmq call that just failed on this thread.
    static var last: ZMQError {
        ZMQError(code: zmq_errno())
    }
}

/// Runs a libzmq call that returns -1 on failure, retrying while it is
/// interrupted by a signal (`EINTR`): a signal delivered to a daemon must not
/// surface as a spurious I/O error.
func retryingInterrupts(_ call: () -> Int32) -> Result<Int32, ZMQError> {
    while true {
        let result = call()
        if result != -1 {
            return .success(result)
        }
        let code = zmq_errno()
        if code != EINTR {
            return .failure(ZMQError(code: code))
        }
    }
}

/// Throws the error of a libzmq call that returned -1.
func check(_ result: Int32) throws(ZMQError) {
    if result == -1 {
        throw ZMQError.last
    }
}

extension String {
    /// Decodes a NUL-terminated buffer filled by libzmq. Stops at the first NUL,
    /// or at the end of the buffer when there is none.
    init(zmqBuffer buffer: [CChar]) {
        self.init(decoding: buffer.lazy.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
