import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

/// Issue 13, item 5: autowud as a `Type=notify` systemd service, against a real daemon process and a real
/// notify socket (the part of systemd the daemon talks to).
@Suite(.serialized) struct SystemdTests {
    /// READY=1 names the bound endpoints, and the control endpoint it names answers; nothing more until
    /// SIGTERM, then STOPPING=1.
    @Test(arguments: [false, true])
    func readyOnceTheControlEndpointAnswersAndStoppingAfterSigterm(abstract: Bool) throws {
        let notify = try NotifySocket(abstract: abstract)
        let daemon = try DaemonProcess(environment: ["NOTIFY_SOCKET": notify.address])
        let ready = try #require(notify.receive(), "no notification; log:\n\(daemon.log)")
        #expect(ready["READY"] == "1", "\(ready)")
        let status = try #require(ready["STATUS"])
        func endpoint(_ key: String) -> String? {
            status.split(separator: " ").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        // The ports were `*`: only a daemon that has bound its sockets can name them.
        let named = DaemonEndpoints(control: try #require(endpoint("control")), ingest: try #require(endpoint("ingest")),
                                    events: try #require(endpoint("events")))
        #expect(named.control == daemon.endpoints.control && named.ingest == daemon.endpoints.ingest
                && named.events == daemon.endpoints.events, "\(status)")
        let reply = try DaemonQuery.request(.ping(.init()), endpoints: named)
        guard case .pong? = reply.body else {
            Issue.record("no pong: \(reply)")
            return
        }
        #expect(notify.pending() == nil, "nothing but READY before SIGTERM")

        #expect(daemon.stop() == 0, "\(daemon.log)")
        // The daemon has exited: whatever it sent is queued already.
        let stopping = try #require(notify.pending(), "no STOPPING=1; log:\n\(daemon.log)")
        #expect(stopping["STOPPING"] == "1", "\(stopping)")
    }

    /// A notify socket nobody listens on: the daemon runs and stops as usual and says so once, not per message.
    @Test func anUnreachableNotifySocketIsLoggedOnceAndNotFatal() throws {
        let nowhere = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-dir-\(UUID().uuidString)/notify").path
        let daemon = try DaemonProcess(environment: ["NOTIFY_SOCKET": nowhere])
        _ = try DaemonQuery.request(.ping(.init()), endpoints: daemon.endpoints)
        #expect(daemon.stop() == 0, "\(daemon.log)")
        let complaints = daemon.log.split(separator: "\n").filter { $0.contains("cannot notify systemd") }
        #expect(complaints.count == 1, "READY and STOPPING both failed; logged \(complaints.count) times:\n\(daemon.log)")
        #expect(complaints.first?.contains(nowhere) == true)
    }

    static let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// `systemd-analyze verify` wants the ExecStart binary to exist: a copy of the unit runs the one just built.
    @Test(.enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (Debian package systemd; scripts/install-dependencies --test)"))
    func theUnitFileVerifies() throws {
        let unit = try String(contentsOf: BuildProducts.repository.appendingPathComponent("deploy/systemd/autowud.service"), encoding: .utf8)
        let installed = "ExecStart=/usr/local/bin/autowud "
        #expect(unit.contains(installed))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("autowud.service")
        try unit.replacingOccurrences(of: installed, with: "ExecStart=\(BuildProducts.executable("autowud").path) ")
            .write(to: copy, atomically: true, encoding: .utf8)
        let output = try runProcess(URL(fileURLWithPath: try #require(Self.systemdAnalyze)), ["verify", copy.path])
        #expect(output.status == 0 && output.stderr.isEmpty && output.stdout.isEmpty, "\(output.stdout)\(output.stderr)")
    }
}
