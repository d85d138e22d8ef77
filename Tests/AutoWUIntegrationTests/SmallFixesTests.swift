import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

/// The small ones of issue 11: `divergence_factor = inf`, `steps_seen` past `total_steps`, and `simulate`
/// with more ranks than one ZeroMQ context holds by default.
@Suite(.serialized) struct SmallFixesTests {
    func request(_ body: Autowu_V1_Request.OneOf_Body) -> Autowu_V1_Request {
        .with { $0.protocolVersion = 1; $0.requestID = UInt64.random(in: 1 ... 1 << 40); $0.body = body }
    }

    /// The validator's own message suggests infinity ("use infinity to disable the explosion rule"); the
    /// controller holding it could not be stored (JSON has no infinity) and the job got ERROR_INTERNAL.
    @Test func divergenceFactorInfinityIsRegisteredStoredAndReloaded() throws {
        let daemon = try DaemonProcess()
        let raw = try BadInputTests.RawControl(daemon.endpoints.control)
        var jobSpec = spec(stepsPerEpoch: 20, totalSteps: 2400, worldSize: 1)
        jobSpec.hyperparameters.divergenceFactor = .infinity
        let reply = try #require(try raw.request(request(.register(.with { $0.jobID = "no-explosion-rule"; $0.spec = jobSpec }))))
        #expect(reply.job.version == 1, "\(reply)")
        #expect(reply.job.spec.hyperparameters.divergenceFactor == .infinity)
        #expect(daemon.stop() == 0)
        try daemon.start()
        let reloaded = try status(daemon)
        #expect(reloaded.jobs.map(\.jobID) == ["no-explosion-rule"] && reloaded.daemon.counters["jobs.broken"] == 0)
    }

    @Test
    func aJobWithDivergenceFactorInfinityIsTestedAndDecidesAsTheCore() throws {
        let daemon = try DaemonProcess()
        let name = "synth_c_nan_div700_min600_spe20_ep60_W1200.csv"
        let trace = try Traces.losses(name)
        var jobSpec = spec(stepsPerEpoch: 20, totalSteps: 2400, worldSize: 1)
        jobSpec.hyperparameters.divergenceFactor = .infinity
        let client = try RankClient(options: RankClient.Options(endpoints: daemon.endpoints, jobID: "inf", rank: 0, spec: jobSpec))
        _ = try play(client, trace: trace, from: 0, to: 1200)
        client.close()
        let job = try #require(try status(daemon, job: "inf").jobs.first)
        let expected = try #require(try expectedDecision(trace: trace, spec: jobSpec, jobID: "inf"))
        #expect(job.decision.step == UInt64(expected.step) && job.decision.reason == expected.reason.rawValue)
    }

    @Test func stepsSeenNeverExceedsTotalSteps() throws {
        let daemon = try DaemonProcess()
        let raw = try BadInputTests.RawControl(daemon.endpoints.control)
        #expect(try raw.request(request(.register(.with { $0.jobID = "short"; $0.spec = spec(stepsPerEpoch: 5, totalSteps: 10, worldSize: 1) })))?.job.version == 1)
        // Steps 8..12 of a 10-step run: 8 and 9 count, 10..12 do not exist.
        let reply = try #require(try raw.request(request(.snapshot(.with {
            $0.jobID = "short"; $0.needEpoch = -1
            $0.pending = .with { $0.firstStep = 8; $0.losses = [1, 2, 3, 4, 5] } }))))
        #expect(reply.job.stepsSeen == 10, "\(reply)")
        let counters = try status(daemon).daemon.counters
        #expect(counters["ingest.out_of_range"] == 3)
        #expect(try status(daemon, job: "short").jobs.first?.stepsSeen == 10)
    }

    /// One ZeroMQ context holds 1023 sockets unless told otherwise, and each rank has three: `simulate`
    /// failed with EMFILE ("Too many open files") from about 341 ranks on.
    @Test func simulatePlaysMoreRanksThanOneZeroMQContextHoldsByDefault() throws {
        let daemon = try DaemonProcess()
        let trace = BuildProducts.repository.appendingPathComponent("traces/digits_bs512_seed0_spe3_ep120_W360.csv").path
        let (output, job) = try simulate(daemon, [trace, "--steps-per-epoch", "3", "--total-steps", "24", "--ranks", "400", "--job-id", "crowd"])
        #expect(output.status == 0, "\(output.stderr.suffix(2000))")
        #expect(!output.stderr.contains("Too many open files"))
        let result = try #require(job)
        #expect(result.disagreements == 0 && result.switched && result.steps >= 12, "\(result)")
    }

    @Test func simulateSaysHowManyRanksFitWhenAskedForTooMany() throws {
        let trace = BuildProducts.repository.appendingPathComponent("traces/digits_bs512_seed0_spe3_ep120_W360.csv").path
        let output = try runProcess(BuildProducts.executable("autowu"), [
            "simulate", trace, "--steps-per-epoch", "3", "--total-steps", "24", "--ranks", "1000", "--jobs", "1000",
            "--endpoint", "tcp://127.0.0.1:1"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("1000000 ranks need about") && output.stderr.contains("one process plays at most"), "\(output.stderr)")
    }
}
