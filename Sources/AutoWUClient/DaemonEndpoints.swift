import AutoWUProtocol
import Foundation

/// Where a client finds the daemon's three sockets, and how to secure them.
public struct DaemonEndpoints: Sendable, Equatable {
    public var control: String
    public var ingest: String
    public var events: String
    /// The daemon's CURVE public key (Z85); nil: plain TCP.
    public var serverKey: String?

    public init(control: String, ingest: String, events: String, serverKey: String? = nil) {
        self.control = control
        self.ingest = ingest
        self.events = events
        self.serverKey = serverKey
    }

    /// `tcp://HOST:PORT` for control, PORT+1 for ingest, PORT+2 for events (protocol/SPEC.md, section 1).
    public init(base: String, serverKey: String? = nil) throws {
        guard let colon = base.lastIndex(of: ":"), let port = Int(base[base.index(after: colon)...]), port > 0, port < 65534 else {
            throw ClientError.invalidArgument("an endpoint must look like tcp://HOST:PORT, got \(base)")
        }
        let host = base[..<colon]
        self.init(control: "\(host):\(port)", ingest: "\(host):\(port + 1)", events: "\(host):\(port + 2)", serverKey: serverKey)
    }

    public static let localDefault = DaemonEndpoints(
        control: "tcp://127.0.0.1:\(WireProtocol.defaultControlPort)",
        ingest: "tcp://127.0.0.1:\(WireProtocol.defaultIngestPort)",
        events: "tcp://127.0.0.1:\(WireProtocol.defaultEventsPort)")

    /// From AUTOWU_CONTROL / AUTOWU_INGEST / AUTOWU_EVENTS, else AUTOWU_ENDPOINT, else the local defaults;
    /// a `base` endpoint (a command's --endpoint) replaces all of those. The server key comes from
    /// AUTOWU_SERVER_KEY either way: --endpoint says where the daemon is, not that it stopped using CURVE.
    public static func fromEnvironment(base: String? = nil, _ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonEndpoints {
        var endpoints: DaemonEndpoints
        if let base {
            endpoints = try DaemonEndpoints(base: base)
        } else {
            endpoints = try environment["AUTOWU_ENDPOINT"].map { try DaemonEndpoints(base: $0) } ?? .localDefault
            if let value = environment["AUTOWU_CONTROL"] { endpoints.control = value }
            if let value = environment["AUTOWU_INGEST"] { endpoints.ingest = value }
            if let value = environment["AUTOWU_EVENTS"] { endpoints.events = value }
        }
        endpoints.serverKey = environment["AUTOWU_SERVER_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        return endpoints
    }
}

/// What can go wrong on the rank side, each with what to do about it in its message.
public enum ClientError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(String)
    /// The daemon answered with an error that retrying cannot fix.
    case refused(code: Autowu_V1_ErrorCode, message: String)
    /// No usable answer within the bound: training must not go on with a guessed LR.
    case daemonUnreachable(String)
    case protocolViolation(String)
    /// The CURVE handshake failed and none succeeded: most likely AUTOWU_SERVER_KEY is not this daemon's key.
    case handshakeFailed(endpoint: String)

    public var description: String {
        switch self {
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case let .refused(code, message): return "the daemon refused (\(code)): \(message)"
        case .daemonUnreachable(let message): return "the daemon did not answer in time: \(message)"
        case .protocolViolation(let message): return "protocol violation: \(message)"
        case .handshakeFailed(let endpoint): return "CURVE handshake with \(endpoint) failed: wrong server key (AUTOWU_SERVER_KEY)?"
        }
    }
}
