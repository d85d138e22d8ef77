import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

@Suite(.serialized) struct RankAgreementTests {
    @Test func fourRanksAgreeOnEveryStepAcrossTheSwitchAndDecideAsTheCore() throws {
        let daemon = try DaemonProcess()
        let trace = "digits_bs512_seed0_spe3_ep120_W360.csv"
        let (output, simulated) = try simulate(daemon, [BuildProducts.repository.appendingPathComponent("traces/\(trace)").path,
                                                    "--steps-per-epoch", "3", "--total-steps", "720", "--ranks", "4", "--job-id", "agree"])
        #expect(output.status == 0, "\(output.stderr)\n\(daemon.log)")
        let job = try #require(simulated)
        #expect(job.disagreements == 0)
        #expect(job.switched)
        let expected = try #require(try expectedDecision(trace: Traces.losses(trace), spec: spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 4), jobID: "agree"))
        #expect(job.switch_step == expected.step)
        let rate = try #require(job.lr_after_switch)
        #expect(abs(rate - expected.learningRate) <= 1e-9 * expected.learningRate, "daemon \(rate), core \(expected.learningRate)")
        #expect(job.steps > expected.step, "the ranks ran past the switch")
        #expect(daemon.stop() == 0, "SIGTERM is a clean exit")
    }

    @Test func aRestartedRankCatchesUpBySnapshotAndAgreesFromItsFirstStep() throws {
        let daemon = try DaemonProcess()
        let trace = try Traces.losses("digits_bs128_seed0_spe12_ep80_W960.csv")
        let jobSpec = spec(stepsPerEpoch: 12, totalSteps: 1920, worldSize: 4)
        let endpoints = daemon.endpoints
        let resumeAt = 300  // mid-warmup, mid-epoch
        let rates = try onThreads(4) { rank -> [Double] in
            let options = RankClient.Options(endpoints: endpoints, jobID: "restart", rank: rank, spec: jobSpec)
            if rank < 3 {
                let client = try RankClient(options: options)
                defer { client.close() }
                return try play(client, trace: trace, from: 0, to: 700)
            }
            // Rank 3 dies at step 300 and comes back from its checkpoint with new sockets.
            let first = try RankClient(options: options)
            let before = try play(first, trace: trace, from: 0, to: resumeAt)
            first.close()
            Thread.sleep(forTimeInterval: 0.3)
            let second = try RankClient(options: options)
            defer { second.close() }
            return before + (try play(second, trace: trace, from: resumeAt, to: 700))
        }
        for rank in 1..<4 {
            #expect(rates[rank].map(\.bitPattern) == rates[0].map(\.bitPattern), "rank \(rank) disagrees")
        }
        let list = try status(daemon, job: "restart")
        #expect(list.jobs.first?.hasDecision == true)
        // A client that joins now, without reporting anything, holds the same plan.
        let observer = try RankClient(options: RankClient.Options(endpoints: endpoints, jobID: "restart", rank: 0, spec: jobSpec))
        defer { observer.close() }
        for step in [0, 299, 636, 637, 699] {
            #expect(try observer.learningRate(at: step).bitPattern == rates[0][step].bitPattern)
        }
    }

    @Test func twoJobsAtOnceDoNotDisturbEachOther() throws {
        let daemon = try DaemonProcess()
        let traces = ["digits_bs512_seed0_spe3_ep120_W360.csv": (3, 720), "synth_c_nan_div700_min600_spe20_ep60_W1200.csv": (20, 2400)]
        let names = traces.keys.sorted()
        let outputs = try onThreads(2) { index -> (ProcessOutput, SimulationReport.Job?) in
            let name = names[index]
            let (spe, total) = traces[name]!
            return try simulate(daemon, [BuildProducts.repository.appendingPathComponent("traces/\(name)").path,
                                         "--steps-per-epoch", "\(spe)", "--total-steps", "\(total)", "--ranks", "3",
                                         "--job-id", "pair-\(index)"])
        }
        for (index, (output, simulated)) in outputs.enumerated() {
            #expect(output.status == 0, "\(output.stderr)")
            let job = try #require(simulated)
            let (spe, total) = traces[names[index]]!
            let expected = try #require(try expectedDecision(trace: Traces.losses(names[index]),
                                                             spec: spec(stepsPerEpoch: spe, totalSteps: total, worldSize: 3), jobID: "pair-\(index)"))
            #expect(job.disagreements == 0)
            #expect(job.switch_step == expected.step, "\(names[index])")
            #expect(job.reason == expected.reason.rawValue)
        }
    }
}

@Suite struct RetentionTests {
    @Test func idleJobsAreKeptForInspectionThenExpire() throws {
        // 0.002 h = 7.2 s of retention: room for a status that waits out libmunge's retries on a stale socket.
        let daemon = try DaemonProcess(arguments: ["--retention-hours", "0.002"])
        let client = try RankClient(options: RankClient.Options(endpoints: daemon.endpoints, jobID: "short-lived", rank: 0,
                                                               spec: spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1)))
        client.close()
        #expect(try status(daemon).jobs.map(\.jobID) == ["short-lived"], "kept while fresh")
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline, try !status(daemon).jobs.isEmpty { usleep(100_000) }
        #expect(try status(daemon).jobs.isEmpty, "expired after the retention")
        #expect(daemon.log.contains("job removed"))
    }
}

@Suite struct StartupTests {
    @Test func aDaemonThatCannotBindSaysSoAndExits() throws {
        let first = try DaemonProcess()
        let taken = try runProcess(BuildProducts.executable("autowud"), [
            "--data-dir", first.dataDirectory + "-second", "--control", first.endpoints.control,
            "--ingest", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"])
        #expect(taken.status != 0)
        #expect(taken.stderr.contains("cannot bind the control socket to \(first.endpoints.control)"), "\(taken.stderr)")
        let hostName = try runProcess(BuildProducts.executable("autowud"), [
            "--data-dir", first.dataDirectory + "-third", "--control", "tcp://localhost:1", "--ingest", "tcp://127.0.0.1:*",
            "--events", "tcp://127.0.0.1:*"])
        #expect(hostName.status != 0 && hostName.stderr.contains("not a host name"))
        #expect(try status(first).jobs.isEmpty, "the first daemon is unharmed")
    }
}
