import AutoWU
import AutoWUProtocol
import Dispatch
import SwiftProtobuf
import ZeroMQ

/// Control requests of many simulated ranks in flight at once on a few shared DEALER sockets, each reply
/// matched to its request by request id (SPEC section 2). A request without a reply within its attempt
/// time is sent again with the same id on the same socket, a few times: reconnecting a shared socket, as
/// one rank's Lazy Pirate would, would throw away every other rank's replies.
final class ControlMultiplexer {
    struct Request {
        var rank: Int
        var body: Autowu_V1_Request.OneOf_Body
        var bytes: [UInt8]
        var socket: Int
        var attemptNanoseconds: UInt64
        var attempts = 1
    }

    let sockets: [ZMQSocket]
    private var inFlight: [UInt64: Request] = [:]
    private var attemptEnds = TimedQueue<UInt64>()
    private var nextRequestID = UInt64.random(in: 1 ... (1 << 62))
    static let maximumAttempts = 3
    /// Attempts that got no reply in time and were sent again.
    private(set) var resends = 0
    /// Replies to no request in flight (a late answer to a resent request).
    private(set) var strayReplies = 0

    init(sockets: [ZMQSocket]) {
        self.sockets = sockets
    }

    var inFlightCount: Int { inFlight.count }

    /// Sends `body` for `rank` on the rank's socket; the reply comes back from `receive`.
    func send(_ body: Autowu_V1_Request.OneOf_Body, rank: Int, attemptMilliseconds: Int, now: UInt64) throws {
        let requestID = nextRequestID
        nextRequestID = nextRequestID == .max ? 1 : nextRequestID + 1
        let bytes: [UInt8] = try Autowu_V1_Request.with {
            $0.protocolVersion = WireProtocol.version
            $0.requestID = requestID
            $0.body = body
        }.serializedBytes()
        let request = Request(rank: rank, body: body, bytes: bytes, socket: rank % sockets.count,
                              attemptNanoseconds: UInt64(attemptMilliseconds) * 1_000_000)
        inFlight[requestID] = request
        try transmit(request, id: requestID, now: now)
    }

    private func transmit(_ request: Request, id: UInt64, now: UInt64) throws {
        _ = try sockets[request.socket].sendMultipart([[], request.bytes])
        attemptEnds.insert(id, due: now + request.attemptNanoseconds)
    }

    /// Every reply queued on `socket` with the request it answers.
    func receive(from socket: ZMQSocket) throws -> [(request: Request, reply: Autowu_V1_Reply)] {
        var answered: [(request: Request, reply: Autowu_V1_Reply)] = []
        while let frames = try socket.receiveMultipart(dontWait: true) {
            guard let body = frames.last, let reply = try? Autowu_V1_Reply(serializedBytes: body),
                  let request = inFlight.removeValue(forKey: reply.requestID) else {
                strayReplies += 1
                continue
            }
            answered.append((request, reply))
        }
        return answered
    }

    /// Sends again what has waited its attempt time out; returns the requests that used up their attempts.
    func resendOverdue(now: UInt64) throws -> [Request] {
        var abandoned: [Request] = []
        while let (_, id) = attemptEnds.popDue(now: now) {
            guard var request = inFlight[id] else { continue }  // answered meanwhile
            guard request.attempts < Self.maximumAttempts else {
                inFlight[id] = nil
                abandoned.append(request)
                continue
            }
            request.attempts += 1
            inFlight[id] = request
            resends += 1
            try transmit(request, id: id, now: now)
        }
        return abandoned
    }

    /// When the earliest attempt in flight runs out.
    var nextAttemptEnd: UInt64? { attemptEnds.nextDue }
}
