import CZMQ

/// A socket option together with the Swift type of its value, so that
/// `socket.set(.linger, 0)` and `socket.get(.curveServerKey)` are checked by the
/// compiler instead of by libzmq at run time.
///
/// For options not listed here, build a key from the libzmq constant:
/// `ZMQSocketOption<Int>.int32(ZMQ_SNDBUF)`.
public struct ZMQSocketOption<Value>: Sendable, Hashable {
    /// How the value travels through `zmq_setsockopt`/`zmq_getsockopt`.
    enum Encoding: Sendable, Hashable {
        case int32
        case int64
        case bool
        case bytes(capacity: Int)
        case string(capacity: Int)
        /// A CURVE key: 32 bytes, which libzmq reads and writes as 40 Z85 characters.
        case curveKey
    }

    /// The libzmq option constant, e.g. `ZMQ_LINGER`.
    public let name: Int32
    let encoding: Encoding

    /// Only the constrained factories below call this, which is what keeps
    /// `encoding` consistent with `Value`.
    private init(_ name: Int32, _ encoding: Encoding) {
        self.name = name
        self.encoding = encoding
    }
}

extension ZMQSocketOption where Value == Int {
    /// An option whose C type is `int`.
    public static func int32(_ name: Int32) -> Self { .init(name, .int32) }
    /// An option whose C type is `int64_t`.
    public static func int64(_ name: Int32) -> Self { .init(name, .int64) }

    /// Messages queued for sending before the socket blocks or drops (per peer).
    public static var sndhwm: Self { .int32(ZMQ_SNDHWM) }
    /// Messages queued on receipt before libzmq stops reading from a peer.
    public static var rcvhwm: Self { .int32(ZMQ_RCVHWM) }
    /// Milliseconds that unsent messages outlive `close()`; -1 waits forever.
    public static var linger: Self { .int32(ZMQ_LINGER) }
    /// Milliseconds a blocking receive waits before returning `nil`; -1 waits forever.
    public static var rcvtimeo: Self { .int32(ZMQ_RCVTIMEO) }
    /// Milliseconds a blocking send waits before returning `false`; -1 waits forever.
    public static var sndtimeo: Self { .int32(ZMQ_SNDTIMEO) }
    /// Largest inbound message in bytes; bigger ones drop the peer. -1 is no limit.
    public static var maxMessageSize: Self { .int64(ZMQ_MAXMSGSIZE) }
    /// TCP keepalive on connections: -1 leaves the OS default, 0 off, 1 on.
    public static var tcpKeepalive: Self { .int32(ZMQ_TCP_KEEPALIVE) }
}

extension ZMQSocketOption where Value == Bool {
    /// An option whose C type is an `int` used as a boolean.
    public static func bool(_ name: Int32) -> Self { .init(name, .bool) }

    /// Queue messages only to completed connections, so nothing piles up for a
    /// peer that is still connecting or never will.
    public static var immediate: Self { .bool(ZMQ_IMMEDIATE) }
    /// Make a ROUTER fail with `EHOSTUNREACH` on an unknown routing id instead
    /// of silently dropping the message.
    public static var routerMandatory: Self { .bool(ZMQ_ROUTER_MANDATORY) }
    /// Act as the CURVE server: requires `curveSecretKey` too.
    public static var curveServer: Self { .bool(ZMQ_CURVE_SERVER) }
    /// Read-only: whether the last received frame has more frames after it.
    static var rcvmore: Self { .bool(ZMQ_RCVMORE) }
}

extension ZMQSocketOption where Value == [UInt8] {
    /// An option whose value is a byte string of at most `capacity` bytes.
    public static func bytes(_ name: Int32, capacity: Int = 256) -> Self { .init(name, .bytes(capacity: capacity)) }

    /// The identity a ROUTER peer sees for this socket (1 to 255 bytes, not
    /// starting with 0). Set before connecting.
    public static var routingId: Self { .bytes(ZMQ_ROUTING_ID, capacity: 255) }
    /// Write-only; use `subscribe(to:)`.
    static var subscribe: Self { .bytes(ZMQ_SUBSCRIBE) }
    /// Write-only; use `unsubscribe(from:)`.
    static var unsubscribe: Self { .bytes(ZMQ_UNSUBSCRIBE) }
}

extension ZMQSocketOption where Value == String {
    /// An option whose value is text of at most `capacity` bytes.
    public static func string(_ name: Int32, capacity: Int = 1024) -> Self { .init(name, .string(capacity: capacity)) }

    /// Read-only: the endpoint of the last bind or connect, wildcards resolved.
    public static var lastEndpoint: Self { .string(ZMQ_LAST_ENDPOINT) }
    /// The ZAP domain passed to the authentication handler, if one runs.
    public static var zapDomain: Self { .string(ZMQ_ZAP_DOMAIN, capacity: 256) }
    /// This socket's CURVE public key, Z85 (40 characters).
    public static var curvePublicKey: Self { .init(ZMQ_CURVE_PUBLICKEY, .curveKey) }
    /// This socket's CURVE secret key, Z85 (40 characters).
    public static var curveSecretKey: Self { .init(ZMQ_CURVE_SECRETKEY, .curveKey) }
    /// On a CURVE client: the public key of the server it accepts, Z85.
    public static var curveServerKey: Self { .init(ZMQ_CURVE_SERVERKEY, .curveKey) }
}
