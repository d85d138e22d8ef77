import Foundation
import Logging
import Testing
@testable import AutoWUDaemon

@Suite struct JSONLogHandlerTests {
    func decode(_ line: String) throws -> [String: Any] {
        #expect(line.hasSuffix("}\n") && line.dropLast().allSatisfy { $0 != "\n" }, "one line: \(line)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(JSONLogHandler.timestamp(timespec(tv_sec: 0, tv_nsec: 5_999_999)) == "1970-01-01T00:00:00.005Z")
        #expect(JSONLogHandler.timestamp(timespec(tv_sec: 1_714_564_800 + 59, tv_nsec: 999_000_000)) == "2024-05-01T12:00:59.999Z")
    }

    @Test func metadataBecomesFieldsAndEveryStringIsEscaped() throws {
        let message = "quote \" backslash \\ newline \n tab \t bell \u{7} é"
        let line = JSONLogHandler.line(level: .warning, message: message, fields: [
            "job": "j-1", "epoch": .stringConvertible(7), "msg": "shadowed",
            "list": ["a", "b\n"], "nested": ["k": "v"],
        ], at: timespec(tv_sec: 0, tv_nsec: 0))
        let object = try decode(line)
        #expect(object["ts"] as? String == "1970-01-01T00:00:00.000Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["msg"] as? String == message)
        #expect(object["_msg"] as? String == "shadowed")
        #expect(object["job"] as? String == "j-1" && object["epoch"] as? String == "7")
        #expect(object["list"] as? [String] == ["a", "b\n"])
        #expect(object["nested"] as? [String: String] == ["k": "v"])
        #expect(line.hasPrefix("{\"ts\":"), "ts, level, msg first: \(line)")
    }
}
