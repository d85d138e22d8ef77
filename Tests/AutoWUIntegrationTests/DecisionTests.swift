import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

/// What a real daemon decides: not a function of the job's name, and never stranded by absurd losses.
@Suite(.serialized) struct DecisionTests {
    @Test func theSameLossesUnderTwoJobNamesGetTheSameDecision() throws {
        let daemon = try DaemonProcess()
        let path = BuildProducts.repository.appendingPathComponent("traces/digits_bs512_seed0_spe3_ep120_W360.csv").path
        var decisions: [SimulationJob] = []
        for name in ["alpha", "a-completely-different-name-42"] {
            let (output, simulated) = try simulate(daemon, [path, "--steps-per-epoch", "3", "--total-steps", "720",
                                                            "--ranks", "2", "--job-id", name])
            #expect(output.status == 0, "\(output.stderr)")
            let job = try #require(simulated)
            decisions.append(SimulationJob(step: job.switch_step, rate: job.lr_after_switch))
        }
        #expect(decisions[0].step != nil && decisions[0].step == decisions[1].step)
        #expect(decisions[0].rate?.bitPattern == decisions[1].rate?.bitPattern)
        #expect(daemon.stop() == 0)
    }

    /// NaN, inf, +-1e300 and +-max losses, under both tests: every epoch gets a verdict, no test fails, and
    /// the job ends its warmup with a decision.
    @Test(arguments: [Autowu_V1_MinimumTestKind.testRobust, .testPaper])
    func absurdLossesNeverStrandAJob(test: Autowu_V1_MinimumTestKind) throws {
        let daemon = try DaemonProcess()
        var trace = try Traces.losses("digits_bs512_seed0_spe3_ep120_W360.csv")
        // One absurd loss per epoch (3 steps): an epoch that is mostly non-finite would be a divergence,
        // which is a decision, not the hard case meant here.
        for (step, value) in [(30, 1e300), (33, -1e300), (60, Double.nan), (63, .infinity), (66, -.infinity),
                              (90, .greatestFiniteMagnitude), (93, -.greatestFiniteMagnitude)] {
            trace[step] = value
        }
        var jobSpec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1)
        jobSpec.test = test
        jobSpec.hyperparameters.divergenceFactor = .infinity
        let job = "absurd-\(test.rawValue)"
        let client = try RankClient(options: .init(endpoints: daemon.endpoints, jobID: job, rank: 0, spec: jobSpec))
        defer { client.close() }
        // Every gate up to the warmup's end must open: a stranded epoch would make this throw after its bound.
        _ = try play(client, trace: trace, from: 0, to: trace.count)
        let state = try #require(try status(daemon, job: job).jobs.first)
        #expect(state.hasDecision, "the warmup ended")
        #expect(state.lastVerdict.epoch >= 30, "epochs after the absurd losses were tested")
        let counters = try status(daemon).daemon.counters
        #expect(counters["tests.failed", default: 0] == 0, "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }
}

private struct SimulationJob {
    var step: Int?
    var rate: Double?
}
