import CZMQ

/// One event from a socket monitor (`zmq_socket_monitor`): what happened to one of the socket's connections.
public struct ZMQSocketEvent: Sendable, Hashable {
    /// Event kinds, a bit set as libzmq defines them (`ZMQ_EVENT_*`).
    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let connected = Kind(rawValue: ZMQ_EVENT_CONNECTED)
        public static let accepted = Kind(rawValue: ZMQ_EVENT_ACCEPTED)
        public static let disconnected = Kind(rawValue: ZMQ_EVENT_DISCONNECTED)
        public static let monitorStopped = Kind(rawValue: ZMQ_EVENT_MONITOR_STOPPED)
        /// The peer went away, or spoke no ZMTP, before the security handshake completed.
        public static let handshakeFailedNoDetail = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        public static let handshakeSucceeded = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        /// The handshake broke the protocol; `value` is a `ZMQ_PROTOCOL_ERROR_*` code (a wrong CURVE key on
        /// the server side: `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`).
        public static let handshakeFailedProtocol = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        /// ZAP refused the peer; `value` is the ZAP status code.
        public static let handshakeFailedAuth = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

        public static let handshakeFailures: Kind = [.handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuth]
    }

    public let kind: Kind
    /// An errno, a protocol error code or a file descriptor, depending on `kind`.
    public let value: Int32
    /// For a connecting socket the endpoint it connects to; for a bound one, the peer's address.
    public let address: String

    public init(kind: Kind, value: Int32, address: String) {
        self.kind = kind
        self.value = value
        self.address = address
    }

    /// Decodes libzmq's two-frame event message: event (UInt16) and value (UInt32), native byte order, then the address.
    init?(frames: [[UInt8]]) {
        guard frames.count == 2, frames[0].count == 6 else {
            return nil
        }
        let header = frames[0]
        let event = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt16.self) }
        let value = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self) }
        self.init(kind: Kind(rawValue: Int32(event)), value: Int32(bitPattern: value), address: String(decoding: frames[1], as: UTF8.self))
    }

    /// Whether a failed protocol handshake was a cryptographic failure: the CURVE keys do not fit.
    public var isCryptographicFailure: Bool {
        kind == .handshakeFailedProtocol && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
    }
}
