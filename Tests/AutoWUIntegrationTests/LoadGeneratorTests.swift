import AutoWUTestKit
import Foundation
import Testing

/// `autowu load` against a real daemon, small: every rank gets every verdict. Speed is measured by
/// scripts/capacity, never asserted here.
@Suite(.serialized) struct LoadGeneratorTests {
    /// The fields of `autowu load --json` this test reads.
    struct Report: Decodable {
        var jobs: Int
        var ranks: Int
        var epochs: Int
        var verdicts_asked: Int
        var verdicts_received: Int
        var ranks_missing_verdicts: Int
        var jobs_switched: Int
        var errors: [String: Int]
        var version_disagreements: Int
        var incarnation_changes: Int
        var failures: [String]
        var losses_sent: Int
    }

    @Test func twentyJobsOfEightRanksGetEveryVerdictWithOnePlanVersionPerJob() throws {
        let daemon = try DaemonProcess()
        let output = try runProcess(BuildProducts.executable("autowu"), [
            "load", "--jobs", "20", "--ranks", "8", "--steps-per-epoch", "10", "--epochs", "4",
            "--steps-per-second", "100", "--token", "load-test-token", "--json"], environment: daemon.environment, timeoutSeconds: 300)
        #expect(output.status == 0, "\(output.stderr)\n\(daemon.log.suffix(3000))")
        let report = try JSONDecoder().decode(Report.self, from: Data(output.stdout.utf8))
        #expect(report.jobs == 20 && report.ranks == 8 && report.epochs == 4)
        #expect(report.jobs_switched == 0, "the synthetic curve keeps every job in its warmup")
        #expect(report.verdicts_asked == 20 * 8 * 4)
        #expect(report.verdicts_received == report.verdicts_asked)
        #expect(report.ranks_missing_verdicts == 0)
        #expect(report.version_disagreements == 0 && report.incarnation_changes == 0)
        #expect(report.errors.isEmpty, "\(report.errors)")
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.losses_sent == 20 * 8 * 4 * 10)
        let list = try status(daemon, token: "load-test-token")
        #expect(list.jobs.count == 20)
        #expect(list.jobs.allSatisfy { $0.plan.decidedThroughEpoch == 3 && $0.stepsSeen == 40 }, "\(list.jobs.map(\.plan.decidedThroughEpoch))")
        #expect(daemon.stop() == 0)
    }
}
