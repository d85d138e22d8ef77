import AutoWU
import AutoWUClient
import AutoWUCommands
import AutoWUProtocol
import AutoWUTestKit
import Foundation

enum Traces {
    static func losses(_ name: String) throws -> [Double] {
        try LossTrace.read(path: BuildProducts.repository.appendingPathComponent("traces/\(name)").path).losses
    }
}

func spec(stepsPerEpoch: Int, totalSteps: Int, worldSize: Int, reporting: Autowu_V1_ReportingMode = .reportingPerRank) -> Autowu_V1_JobSpec {
    .with {
        $0.stepsPerEpoch = UInt64(stepsPerEpoch)
        $0.totalSteps = UInt64(totalSteps)
        $0.worldSize = UInt32(worldSize)
        $0.reporting = reporting
    }
}

/// What the core decides on the same losses with the daemon's parameters for `jobID`: the daemon must agree.
func expectedDecision(trace: [Double], spec: Autowu_V1_JobSpec, jobID: String) throws -> SwitchDecision? {
    let parameters = try JobParameters(spec: spec, jobID: jobID)
    return try Replay(configuration: parameters.configuration, solver: parameters.solver).run(LossTrace(losses: trace)).decision
}

/// Plays steps [from, to) of `trace` as one rank; returns the LR of each step.
func play(_ client: RankClient, trace: [Double], from: Int, to: Int, spread: Double = 0) throws -> [Double] {
    var rates: [Double] = []
    for step in from..<to {
        rates.append(try client.learningRate(at: step))
        let loss = trace[step]
        try client.report(step: step, loss: loss.isFinite ? loss * (1 + spread) : loss)
    }
    try client.flush()
    return rates
}

/// Runs `body` on `count` threads and collects their results in order.
final class ResultsBox<T: Sendable>: @unchecked Sendable {
    // Guarded by `lock`.
    let lock = NSLock()
    var results: [Int: Result<T, any Error>] = [:]
}

func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    let box = ResultsBox<T>()
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            let result = Result { try body(index) }
            box.lock.withLock { box.results[index] = result }
            group.leave()
        }
        thread.start()
    }
    group.wait()
    return try (0..<count).map { try box.results[$0]!.get() }
}

/// `autowu simulate --json`'s output.
struct SimulationReport: Decodable, Sendable {
    struct Job: Decodable, Sendable {
        var job: String
        var steps: Int
        var disagreements: Int
        var switched: Bool
        var reason: String?
        var switch_step: Int?
        var lr_after_switch: Double?
    }
    var jobs: [Job]
    var failures: [String]
    var loss_reports_per_second: Double
}

func simulate(_ daemon: DaemonProcess, _ arguments: [String]) throws -> (ProcessOutput, SimulationReport.Job?) {
    let output = try runProcess(BuildProducts.executable("autowu"), ["simulate"] + arguments + ["--json"], environment: daemon.environment)
    let report = try? JSONDecoder().decode(SimulationReport.self, from: Data(output.stdout.utf8))
    return (output, report?.jobs.first)
}

/// `Status` of `job` ("" every job `token` opens, and anonymous ones) and the daemon's counters.
func status(_ daemon: DaemonProcess, job: String = "", token: String = "") throws -> Autowu_V1_JobList {
    let reply = try DaemonQuery.status(jobID: job, token: token, endpoints: daemon.endpoints)
    guard case .jobs(let list)? = reply.body else { throw ClientError.protocolViolation("no job list: \(reply)") }
    return list
}
