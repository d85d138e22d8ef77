import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing
import ZeroMQ

/// The daemon's memory grows with the data it receives, never with the sizes a job declares, and stays
/// within its budget (`--memory-budget-mb`), refusing new jobs and new data with a clear error when reached.
@Suite(.serialized) struct MemoryBoundTests {
    func request(_ body: Autowu_V1_Request.OneOf_Body) -> Autowu_V1_Request {
        .with { $0.protocolVersion = 1; $0.requestID = UInt64.random(in: 1 ... 1 << 40); $0.body = body }
    }

    /// Resident and peak resident memory of a process, in MiB (Linux).
    func residentMegabytes(_ pid: Int32) throws -> (now: Int, peak: Int) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// Issue 11's bomb: `world_size` 65536 x `steps_per_epoch` 65535 and one loss made the daemon allocate
    /// 34 GB and abort; 20 jobs with 256 steps per epoch took it to 1.8 GB.
    @Test func declaredSizesCostNothingUntilDataArrives() throws {
        let daemon = try DaemonProcess()
        let pid = try #require(daemon.process?.processIdentifier)
        let raw = try BadInputTests.RawControl(daemon.endpoints.control)
        let ingest = try LossPublisher(daemon.endpoints.ingest)
        let sizes = [(65_535, 0)] + Array(repeating: (256, 1), count: 20)
        for (index, (stepsPerEpoch, delay)) in sizes.enumerated() {
            var jobSpec = spec(stepsPerEpoch: stepsPerEpoch, totalSteps: 1 << 40, worldSize: 65_536)
            jobSpec.decisionDelaySteps = UInt64(delay)
            let reply = try raw.request(request(.register(.with { $0.jobID = "bomb-\(index)"; $0.spec = jobSpec })))
            #expect(reply?.job.version == 1, "\(String(describing: reply))")
            try ingest.send(.with { $0.protocolVersion = 1; $0.jobID = "bomb-\(index)"; $0.rank = 65_535; $0.losses = [1.0] })
        }
        let deadline = Date().addingTimeInterval(20)
        var counters = try status(daemon).daemon.counters
        while counters["ingest.accepted", default: 0] < 21, Date() < deadline {
            usleep(50_000)
            counters = try status(daemon).daemon.counters
        }
        #expect(counters["ingest.accepted"] == 21, "every loss arrived and was kept")
        let memory = try residentMegabytes(pid)
        #expect(memory.peak < 200, "peak resident memory \(memory.peak) MiB")
        // What the jobs hold is what they were sent, plus a fixed cost per job.
        #expect(counters["memory.jobs_bytes", default: .max] < 21 * 20_000, "\(counters["memory.jobs_bytes", default: 0]) bytes")
    }

    @Test func theMemoryBudgetRefusesNewJobsAndNewDataWithAClearErrorAndFreesWithTheJobs() throws {
        let daemon = try DaemonProcess(arguments: ["--memory-budget-mb", "1"])
        let raw = try BadInputTests.RawControl(daemon.endpoints.control)
        let jobSpec = spec(stepsPerEpoch: 60_000, totalSteps: 1 << 30, worldSize: 4)
        #expect(try raw.request(request(.register(.with { $0.jobID = "big"; $0.spec = jobSpec })))?.job.version == 1)

        // 10,000 losses of rank 0 fit; 60,000 more of rank 1 would not: refused, with the reason.
        let fits = try raw.request(request(.snapshot(.with {
            $0.jobID = "big"; $0.rank = 0; $0.needEpoch = -1
            $0.pending = .with { $0.firstStep = 0; $0.losses = Array(repeating: 2.5, count: 10_000) } })))
        #expect(fits?.job.stepsSeen == 10_000)
        let refused = try #require(try raw.error(request(.snapshot(.with {
            $0.jobID = "big"; $0.rank = 1; $0.needEpoch = -1
            $0.pending = .with { $0.firstStep = 0; $0.losses = Array(repeating: 2.5, count: 60_000) } }))))
        #expect(refused.code == .errorTooLarge)
        #expect(refused.message.contains("memory budget is used up") && refused.message.contains("--memory-budget-mb"), "\(refused.message)")
        var counters = try status(daemon).daemon.counters
        let held = counters["memory.jobs_bytes", default: 0]
        #expect(held <= 1 << 20 && held > 10_000 * 16, "\(held) bytes held")

        // New jobs are refused while the budget is used up...
        var registered = 0
        var refusal: Autowu_V1_Error?
        for index in 0..<200 {
            let reply = try #require(try raw.request(request(.register(.with { $0.jobID = "small-\(index)"; $0.spec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1) }))))
            if case .error(let error)? = reply.body { refusal = error; break }
            registered += 1
        }
        let error = try #require(refusal, "refused before 200 jobs")
        #expect(error.code == .errorTooLarge && error.message.contains("memory budget is used up") && error.message.contains("a new job"))
        counters = try status(daemon).daemon.counters
        #expect(counters["memory.jobs_bytes", default: .max] <= 1 << 20, "within the budget")
        #expect(counters["register.over_budget"] == 1)
        // Losses on the ingest socket are dropped and counted (no reply is possible there).
        let ingest = try LossPublisher(daemon.endpoints.ingest)
        try ingest.send(.with { $0.protocolVersion = 1; $0.jobID = "small-0"; $0.losses = Array(repeating: 1, count: 1_000) })
        let deadline = Date().addingTimeInterval(10)
        while try status(daemon).daemon.counters["ingest.over_budget", default: 0] == 0, Date() < deadline { usleep(50_000) }
        #expect(try status(daemon).daemon.counters["ingest.over_budget"] == 1)
        // ...and taken again once a job goes.
        #expect(try raw.request(request(.expireJob(.with { $0.jobID = "big" })))?.jobs.jobs.first?.phase == .expired)
        #expect(try raw.request(request(.register(.with { $0.jobID = "after"; $0.spec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1) })))?.job.version == 1)
        #expect(registered > 0, "some small jobs fitted beside the big one")
    }
}

/// A PUB socket on the daemon's ingest endpoint, for raw loss batches.
final class LossPublisher {
    let context: ZMQContext
    let socket: ZMQSocket

    init(_ endpoint: String) throws {
        context = try ZMQContext()
        socket = try context.socket(.pub)
        try socket.set(.sndhwm, 0)
        try socket.connect(endpoint)
        Thread.sleep(forTimeInterval: 0.3)  // PUB/SUB: let the subscription arrive before sending
    }

    deinit {
        socket.close()
        context.close()
    }

    func send(_ batch: Autowu_V1_LossBatch) throws {
        try socket.sendMultipart([WireProtocol.ingestTopic(jobID: batch.jobID), try batch.serializedBytes()])
    }
}
