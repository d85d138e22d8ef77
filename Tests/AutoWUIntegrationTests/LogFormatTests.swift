import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

/// `autowud --log-format json`: every line of a real daemon's stderr is one JSON object a log shipper can take.
@Suite struct LogFormatTests {
    @Test func jsonLogsAreOneObjectPerLineWithTheirFields() throws {
        let daemon = try DaemonProcess(arguments: ["--log-format", "json"])
        let register = try DaemonQuery.request(.register(.with {
            $0.jobID = "json-logs"; $0.spec = spec(stepsPerEpoch: 5, totalSteps: 100, worldSize: 1)
        }), endpoints: daemon.endpoints)
        #expect(register.job.version == 1, "\(register)")
        #expect(daemon.stop() == 0)

        let lines = daemon.log.split(separator: "\n")
        let timestamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
        let levels: Set = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect((object["ts"] as? String)?.wholeMatch(of: timestamp) != nil, "\(line)")
            #expect(levels.contains(object["level"] as? String ?? ""), "\(line)")
            #expect(object["msg"] is String, "\(line)")
            objects.append(object)
        }
        func first(_ message: String) -> [String: Any]? { objects.first { $0["msg"] as? String == message } }
        #expect(first("listening")?["control"] as? String == daemon.endpoints.control, "\(daemon.log)")
        #expect(first("job registered")?["job"] as? String == "json-logs", "\(daemon.log)")
        #expect(first("job registered")?["level"] as? String == "info")
        #expect(first("stopped") != nil, "\(daemon.log)")
    }

    /// Without the option the log stays swift-log's text lines, which the other suites grep.
    @Test func textIsTheDefault() throws {
        let daemon = try DaemonProcess()
        #expect(daemon.stop() == 0)
        let listening = try #require(daemon.log.split(separator: "\n").first { $0.hasSuffix("[AutoWUDaemon] listening") }, "\(daemon.log)")
        #expect(listening.contains(" notice autowud: ") && listening.contains("control=\(daemon.endpoints.control)"), "\(listening)")
    }
}
