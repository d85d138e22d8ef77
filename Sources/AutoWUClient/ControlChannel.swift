import AutoWUProtocol
import Dispatch
import SwiftProtobuf
import ZeroMQ

/// The client's control socket with the ZeroMQ guide's Lazy Pirate pattern: send, poll for the reply, and
/// on silence close the DEALER, open a new one and send the same request again, until a deadline.
/// Every request is idempotent, so a retry whose original did arrive is harmless.
final class ControlChannel {
    private let context: ZMQContext
    private let endpoint: String
    private let serverKey: String?
    private let clientKeys: CurveKeyPair?
    private var socket: ZMQSocket
    /// Handshake events of `socket` when it uses CURVE: a wrong server key fails fast instead of timing out.
    private var handshakes: HandshakeWatch?
    private var nextRequestID: UInt64
    /// How long one attempt waits for its reply.
    let attemptTimeoutMilliseconds: Int
    private(set) var reconnects = 0

    init(context: ZMQContext, endpoint: String, serverKey: String?, attemptTimeoutMilliseconds: Int) throws {
        self.context = context
        self.endpoint = endpoint
        self.serverKey = serverKey
        self.clientKeys = serverKey == nil ? nil : try CurveKeyPair.generate()
        self.attemptTimeoutMilliseconds = attemptTimeoutMilliseconds
        // Distinct ids across clients make stray replies easy to tell apart.
        self.nextRequestID = UInt64.random(in: 1 ... (1 << 62))
        (self.socket, self.handshakes) = try Self.open(context: context, endpoint: endpoint, serverKey: serverKey, clientKeys: clientKeys)
    }

    private static func open(context: ZMQContext, endpoint: String, serverKey: String?, clientKeys: CurveKeyPair?) throws -> (ZMQSocket, HandshakeWatch?) {
        let socket = try context.socket(.dealer)
        try socket.set(.linger, 0)
        var handshakes: HandshakeWatch?
        if let serverKey, let clientKeys {
            try socket.set(.curveServerKey, serverKey)
            try socket.set(.curvePublicKey, clientKeys.publicKey)
            try socket.set(.curveSecretKey, clientKeys.secretKey)
            handshakes = try HandshakeWatch(socket)
        }
        try socket.connect(endpoint)
        return (socket, handshakes)
    }

    func close() {
        socket.close()
        handshakes?.close()
    }

    /// Sends `body` and returns the reply, retrying (Lazy Pirate) until `deadline`.
    func request(_ body: Autowu_V1_Request.OneOf_Body, attemptTimeoutMilliseconds: Int? = nil, deadline: DispatchTime) throws -> Autowu_V1_Reply {
        try request(making: { body }, attemptTimeoutMilliseconds: attemptTimeoutMilliseconds, deadline: deadline)
    }

    /// Sends the body `making` makes for each attempt (a MUNGE credential is good for one), same request id.
    func request(making: () throws -> Autowu_V1_Request.OneOf_Body, attemptTimeoutMilliseconds: Int? = nil, deadline: DispatchTime) throws -> Autowu_V1_Reply {
        let requestID = nextRequestID
        nextRequestID = nextRequestID == UInt64.max ? 1 : nextRequestID + 1  // 0 is reserved (SPEC section 2)
        let perAttempt = attemptTimeoutMilliseconds ?? self.attemptTimeoutMilliseconds
        while true {
            let bytes: [UInt8] = try Autowu_V1_Request.with {
                $0.protocolVersion = WireProtocol.version
                $0.requestID = requestID
                $0.body = try making()
            }.serializedBytes()
            try socket.sendMultipart([[], bytes])
            let attemptEnd = min(deadline, .now() + .milliseconds(perAttempt))
            while true {
                let now = DispatchTime.now()
                guard now < attemptEnd else { break }
                var poller = ZMQPoller()
                poller.register(socket)
                let wait = Int((attemptEnd.uptimeNanoseconds - now.uptimeNanoseconds) / 1_000_000) + 1
                guard try poller.poll(timeoutMilliseconds: wait).isReadable(socket),
                      let frames = try socket.receiveMultipart(dontWait: true) else { continue }
                guard let body = frames.last, let reply = try? Autowu_V1_Reply(serializedBytes: body) else {
                    throw ClientError.protocolViolation("the daemon's reply is not an autowu.v1.Reply")
                }
                if reply.requestID == requestID { return reply }
                // The daemon could not read the request (so not its id either): an answer all the same.
                if reply.requestID == 0, case .error(let error)? = reply.body, error.code == .errorMalformed { return reply }
                // A late answer to an earlier attempt: not ours any more.
            }
            // Retrying cannot mend a key that does not fit: say so now, not after the whole wait.
            if let handshakes, try handshakes.failedWithoutSuccess() {
                throw ClientError.handshakeFailed(endpoint: endpoint)
            }
            guard DispatchTime.now() < deadline else {
                throw ClientError.daemonUnreachable("no reply from \(endpoint)")
            }
            // Lazy Pirate: the socket may hold a lost request; start over on a fresh one.
            close()
            (socket, handshakes) = try Self.open(context: context, endpoint: endpoint, serverKey: serverKey, clientKeys: clientKeys)
            reconnects += 1
        }
    }
}
