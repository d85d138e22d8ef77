/// Constants and identifiers of the wire protocol (protocol/SPEC.md, sections 1-3).
public enum WireProtocol {
    public static let version: UInt32 = 1

    public static let defaultControlPort = 7740
    public static let defaultIngestPort = 7741
    public static let defaultEventsPort = 7742

    /// The largest frame the daemon accepts (ZMQ_MAXMSGSIZE).
    public static let maximumMessageBytes = 1 << 20
    public static let maximumBatchLosses = 65_536
    public static let maximumWorldSize: UInt32 = 65_536
    public static let maximumTotalSteps: UInt64 = 1 << 40
    /// The longest `Snapshot.wait_ms`; more is ERROR_INVALID_ARGUMENT (SPEC section 4.2).
    public static let maximumWaitMilliseconds: UInt32 = 10_000

    /// Events of a job are published under this topic; the trailing "/" keeps job "a" from matching "ab".
    public static func eventsTopic(jobID: String) -> [UInt8] { Array("job/\(jobID)/".utf8) }
    public static func ingestTopic(jobID: String) -> [UInt8] { Array("loss/\(jobID)/".utf8) }

    /// 1 to 128 characters from A-Z a-z 0-9 . _ - :
    public static func isValidJobID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...128).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ":")
        }
    }
}

/// A protocol-level failure: its code and message are what the control socket answers with.
public struct ProtocolError: Error, Equatable, CustomStringConvertible {
    public var code: Autowu_V1_ErrorCode
    public var message: String

    public init(_ code: Autowu_V1_ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public var wire: Autowu_V1_Error {
        var error = Autowu_V1_Error()
        error.code = code
        error.message = message
        return error
    }
}
