import Dispatch
import MetricsTestKit
import Testing
@testable import AutoWUDaemon

/// The exported counters follow `Counters` (never counted twice), at most once a second.
@Suite struct DaemonMetricsTests {
    func at(_ seconds: Double) -> DispatchTime { DispatchTime(uptimeNanoseconds: 1_000_000_000 + UInt64(seconds * 1e9)) }

    @Test func countersAreFollowedNotCountedAgain() throws {
        let test = TestMetrics()
        let metrics = DaemonMetrics(factory: test)
        var counters = Counters()
        counters.ingestLosses = 10
        counters.add(LossAggregator.Counts(accepted: 7, duplicate: 2, late: 1))
        counters.add("tests.run", 3)
        metrics.sample(jobs: [Job](), brokenJobs: 2, counters: counters, now: at(0))
        // Within the second: not sampled again, whatever changed.
        counters.ingestLosses = 15
        counters.add("ingest.unknown_job")
        metrics.sample(jobs: [Job](), brokenJobs: 2, counters: counters, now: at(0.5))
        #expect(try test.expectCounter("autowu_loss_reports_received_total").totalValue == 10)
        // A second later: only the increase since the last sample is added.
        metrics.sample(jobs: [Job](), brokenJobs: 0, counters: counters, now: at(1.1))
        metrics.sample(jobs: [Job](), brokenJobs: 0, counters: counters, now: at(2.2))
        #expect(try test.expectCounter("autowu_loss_reports_received_total").totalValue == 15)
        #expect(try test.expectCounter("autowu_tests_total").totalValue == 3)
        #expect(try test.expectCounter("autowu_tests_failed_total").totalValue == 0)
        #expect(try test.expectCounter("autowu_loss_reports_dropped_total", [("reason", "duplicate")]).totalValue == 2)
        #expect(try test.expectCounter("autowu_loss_reports_dropped_total", [("reason", "late")]).totalValue == 1)
        #expect(try test.expectCounter("autowu_loss_reports_dropped_total", [("reason", "unknown_job")]).totalValue == 1)
        #expect(throws: (any Error).self) { try test.expectCounter("autowu_loss_reports_dropped_total", [("reason", "accepted")]) }
        #expect(try test.expectGauge("autowu_jobs", [("phase", "broken")]).lastValue == 0)
        #expect(try test.expectGauge("autowu_jobs", [("phase", "broken")]).values.contains(2))
        #expect(try test.expectGauge("autowu_jobs", [("phase", "warmup")]).lastValue == 0)
    }

    @Test func disabledHooksRecordNothing() {
        let metrics = DaemonMetrics.disabled()
        metrics.testRun(micros: 5)
        metrics.storeCommitted(nanoseconds: 5)
    }
}
