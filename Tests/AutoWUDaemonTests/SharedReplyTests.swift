import AutoWUProtocol
import Testing
@testable import AutoWUDaemon

/// A reply serialized once and prefixed per request id parses as that reply with the id.
@Suite struct SharedReplyTests {
    @Test(arguments: [0, 1, 127, 128, 300, 1 << 35, UInt64.max])
    func eachCopyIsTheReplyWithItsOwnRequestID(requestID: UInt64) throws {
        var state = Autowu_V1_JobState()
        state.jobID = "a job"
        state.version = 42
        state.stepsSeen = 1234
        let shared = try SharedReply(.with { $0.job = state })
        let parsed = try Autowu_V1_Reply(serializedBytes: shared.bytes(requestID: requestID))
        let expected = Autowu_V1_Reply.with {
            $0.protocolVersion = WireProtocol.version
            $0.requestID = requestID
            $0.job = state
        }
        #expect(parsed == expected)
    }
}
