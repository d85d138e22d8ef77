import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

/// `autowud --metrics-address`: a real daemon's /metrics, scraped over a real socket.
@Suite(.serialized) struct MetricsTests {
    static let families = [
        "autowu_jobs": "gauge", "autowu_loss_reports_received_total": "counter",
        "autowu_loss_batches_received_total": "counter", "autowu_loss_reports_dropped_total": "counter",
        "autowu_tests_total": "counter", "autowu_tests_failed_total": "counter",
        "autowu_test_duration_seconds": "histogram", "autowu_verdict_latency_seconds": "histogram",
        "autowu_store_commit_duration_seconds": "histogram",
    ]

    @Test func aJobsEpochsShowInTheScrapedMetrics() throws {
        let fixture = try MetricsFixture()
        let scrape = try fixture.settledScrape()
        for (family, type) in Self.families {
            #expect(scrape.types[family] == type, "\(family) is a \(type):\n\(scrape.text)")
        }
        let tests = try #require(scrape["autowu_tests_total"])
        #expect(tests > 0)
        #expect(scrape["autowu_tests_failed_total"] == 0)
        #expect(scrape["autowu_test_duration_seconds_count"] == tests)
        #expect(scrape["autowu_verdict_latency_seconds_count"] == tests)
        #expect(try #require(scrape["autowu_store_commit_duration_seconds_count"]) >= 1)
        #expect(try #require(scrape["autowu_test_duration_seconds_sum"]) > 0)
        // The job's phase, as the daemon reports it, is the one counted; every other phase is 0.
        let state = try #require(try status(fixture.daemon, job: fixture.job).jobs.first)
        let phase = state.phase == .warmup ? "warmup" : "decay"
        for other in ["warmup", "decay", "failed", "broken"] {
            #expect(scrape["autowu_jobs{phase=\"\(other)\"}"] == (other == phase ? 1 : 0), "\(scrape.text)")
        }
        #expect(scrape["autowu_loss_reports_received_total"] == Double(MetricsFixture.stepsPerEpoch * fixture.epochs))
        #expect(scrape["autowu_loss_reports_dropped_total{reason=\"duplicate\"}"] == 0)
        #expect(fixture.daemon.stop() == 0, "\(fixture.daemon.log)")
    }

    static let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: promtool != nil, "promtool is not installed (Debian package prometheus; scripts/install-dependencies --test)"))
    func promtoolAcceptsTheScrape() throws {
        let fixture = try MetricsFixture()
        let scrape = try fixture.settledScrape()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-metrics-\(UUID().uuidString).txt")
        try scrape.text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        // `promtool check metrics` reads the exposition on stdin; lint problems exit with status 3.
        let output = try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "\"$0\" check metrics < \"$1\"", Self.promtool!, file.path],
                                    timeoutSeconds: 60)
        #expect(output.status == 0, "promtool: \(output.stdout)\(output.stderr)\n\(scrape.text)")
        #expect(fixture.daemon.stop() == 0)
    }

    @Test func aTakenMetricsPortStopsTheStart() throws {
        let first = try DaemonProcess(arguments: ["--metrics-address", "127.0.0.1:0"])
        let taken = try #require(first.metricsAddress)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-test-\(UUID().uuidString)").path
        let output = try runProcess(BuildProducts.executable("autowud"), [
            "--data-dir", directory, "--control", "tcp://127.0.0.1:*", "--ingest", "tcp://127.0.0.1:*",
            "--events", "tcp://127.0.0.1:*", "--metrics-address", taken], timeoutSeconds: 60)
        #expect(output.status == 2, "\(output.stderr)")
        #expect(output.stderr.contains("cannot serve metrics") && output.stderr.contains(taken), "\(output.stderr)")
        #expect(!output.stdout.contains("ready"))
        #expect(first.stop() == 0)
    }

    @Test func metricsAreOffUnlessAsked() throws {
        let daemon = try DaemonProcess()
        #expect(daemon.metricsAddress == nil)
        #expect(daemon.stop() == 0)
    }
}
