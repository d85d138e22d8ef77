import AutoWU
import AutoWUClient
import AutoWUProtocol
import Dispatch
import Foundation
import ZeroMQ

/// Plays a trace as many ranks of many jobs against a daemon, each rank on its own thread with its own
/// client, and checks that all ranks of a job used bit-identical LRs at every step.
struct Simulation: Sendable {
    var trace: [Double]
    var spec: Autowu_V1_JobSpec
    var endpoints: DaemonEndpoints
    var token: String
    /// Register with a MUNGE credential of this process's uid.
    var useMunge = false
    /// Ranks played: `firstRank ..< firstRank + ranks` of the spec's world.
    var ranks: Int
    var firstRank = 0
    var batchSize: Int
    var stepIntervalMicroseconds: Int
    var waitBoundSeconds: Double

    /// What one rank did.
    struct RankRecord: Sendable {
        var learningRates: [Double] = []
        /// Per epoch: when the rank sent its last loss of the epoch, and when it first held the verdict.
        var lastReport: [Int: UInt64] = [:]
        var verdictHeld: [Int: UInt64] = [:]
        var decision: Autowu_V1_Decision?
        var waits = 0
        var waitedNanoseconds: UInt64 = 0
        var reconnects = 0
        var error: String?
    }

    final class Records: @unchecked Sendable {
        // Each rank writes only its own slot; the lock orders those writes before the final read.
        private let lock = NSLock()
        private var records: [String: [RankRecord]] = [:]
        func store(_ record: RankRecord, job: String, rank: Int, ranks: Int) {
            lock.withLock {
                if records[job] == nil { records[job] = Array(repeating: RankRecord(), count: ranks) }
                records[job]![rank] = record
            }
        }
        var all: [String: [RankRecord]] { lock.withLock { records } }
    }

    /// Each rank holds three sockets (events, ingest, control), and each socket a descriptor for its
    /// mailbox and one for its connection; the rest is for the process itself.
    static let socketsPerRank = 3
    static let descriptorsPerRank = 2 * socketsPerRank
    static let reservedDescriptors = 64

    /// The most ranks one process can play: bounded by the open-file limit (raised to the hard limit) and by
    /// the sockets a ZeroMQ context can hold.
    static func capacity(openFiles: Int = OpenFileLimit.current.hard, socketLimit: Int = ZMQContext.socketLimit) -> Int {
        min(max(0, openFiles - reservedDescriptors) / descriptorsPerRank, socketLimit / socketsPerRank)
    }

    /// Raises the open-file limit as far as it goes and checks that `ranks` fit; the error says what to do.
    static func prepare(ranks: Int) throws {
        OpenFileLimit.raiseToHardLimit()
        let limits = OpenFileLimit.current
        let capacity = capacity(openFiles: limits.soft)
        guard ranks <= capacity else {
            throw CommandFailure(message: "error: \(ranks) ranks need about \(ranks * descriptorsPerRank + reservedDescriptors) open files "
                + "(\(descriptorsPerRank) per rank), but this process may open \(limits.soft) (hard limit \(limits.hard)); "
                + "one process plays at most \(capacity) ranks here: raise the hard limit (ulimit -Hn, limits.conf, LimitNOFILE=) "
                + "or run several simulate processes")
        }
    }

    func run(jobIDs: [String]) -> SimulationResult {
        let records = Records()
        // One ZeroMQ context (its I/O threads) for all ranks of this process, as a multi-GPU node's ranks
        // would each have one: every rank still has its own sockets, more than libzmq's default of 1023
        // per context (Lazy Pirate reopens the control socket: room for that too).
        let sockets = jobIDs.count * ranks * Self.socketsPerRank
        let context = try? ZMQContext(ioThreads: 1, maximumSockets: max(1023, sockets + sockets / 2 + 16))
        let started = DispatchTime.now().uptimeNanoseconds
        let group = DispatchGroup()
        // Jobs on a cluster do not start in the same millisecond: spread their starts over one epoch's
        // worth of steps, so that their epochs do not all end at once.
        let epochMicroseconds = Double(stepIntervalMicroseconds) * Double(spec.stepsPerEpoch)
        for (index, job) in jobIDs.enumerated() {
            let delay = epochMicroseconds * Double(index) / Double(jobIDs.count) / 1e6
            for rank in 0..<ranks {
                group.enter()
                let thread = Thread {
                    if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                    records.store(playRank(job: job, rank: firstRank + rank, context: context), job: job, rank: rank, ranks: ranks)
                    group.leave()
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
        }
        group.wait()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return SimulationResult(records: records.all, elapsedSeconds: elapsed, ranks: ranks, batchSize: batchSize,
                                stepsPerEpoch: Int(spec.stepsPerEpoch))
    }

    private func playRank(job: String, rank: Int, context: ZMQContext?) -> RankRecord {
        var record = RankRecord()
        var heldAt: [Int: UInt64] = [:]
        do {
            var options = RankClient.Options(endpoints: endpoints, jobID: job, token: token, rank: rank, spec: spec)
            options.batchSize = batchSize
            options.waitBoundSeconds = waitBoundSeconds
            options.useMunge = useMunge
            let client = try RankClient(options: options, context: context)
            defer {
                record.waits = client.waits
                record.waitedNanoseconds = client.waitedNanoseconds
                record.reconnects = client.controlReconnects
                client.close()
            }
            client.onVerdict = { epoch in heldAt[epoch] = DispatchTime.now().uptimeNanoseconds }
            let total = Int(spec.totalSteps), perEpoch = Int(spec.stepsPerEpoch)
            let spread = (Double(rank) - Double(spec.worldSize - 1) / 2) * 1e-3
            var step = 0
            record.learningRates.reserveCapacity(min(total, trace.count + perEpoch))
            while step < total, step < trace.count {
                let rate = try client.learningRate(at: step)
                record.learningRates.append(rate)
                let loss = trace[step]
                try client.report(step: step, loss: loss.isFinite ? loss + spread * abs(loss) : loss)
                if (step + 1) % perEpoch == 0 { record.lastReport[step / perEpoch] = DispatchTime.now().uptimeNanoseconds }
                if client.plan.isFinal, client.state.hasDecision, step >= Int(client.state.decision.step) + perEpoch { step += 1; break }
                if stepIntervalMicroseconds > 0 { try client.pollEvents(timeoutMilliseconds: max(1, stepIntervalMicroseconds / 1000)) }
                step += 1
            }
            try client.flush()
            record.decision = client.state.hasDecision ? client.state.decision : nil
        } catch {
            record.error = "\(error)"
        }
        record.verdictHeld = heldAt
        return record
    }
}

/// The outcome of a simulation: per job the switch and the agreement check, and the figures.
struct SimulationResult: Encodable {
    struct JobResult: Encodable {
        var job: String
        var steps: Int
        var disagreements: Int
        var first_disagreement_step: Int?
        var switched: Bool
        var reason: String?
        var switch_step: Int?
        var lr_after_switch: Double?
        var waits: Int
        var control_reconnects: Int
    }

    var jobs: [JobResult] = []
    var failures: [String] = []
    var elapsed_seconds: Double
    var loss_reports: Int
    var loss_reports_per_second: Double
    var ingest_messages_per_second: Double
    var verdict_latency_ms_median: Double?
    var verdict_latency_ms_p99: Double?
    var verdicts_measured: Int

    init(records: [String: [Simulation.RankRecord]], elapsedSeconds: Double, ranks: Int, batchSize: Int, stepsPerEpoch: Int) {
        var latencies: [Double] = []
        var reports = 0
        for (job, ranksRecords) in records.sorted(by: { $0.key < $1.key }) {
            for (rank, record) in ranksRecords.enumerated() {
                if let error = record.error { failures.append("\(job) rank \(rank): \(error)") }
                reports += record.learningRates.count
            }
            let reference = ranksRecords[0].learningRates
            var disagreements = 0
            var first: Int?
            let steps = ranksRecords.map(\.learningRates.count).min() ?? 0
            for record in ranksRecords.dropFirst() {
                if record.learningRates.count != reference.count { disagreements += 1 }
                for step in 0..<min(record.learningRates.count, reference.count)
                where record.learningRates[step].bitPattern != reference[step].bitPattern {
                    disagreements += 1
                    first = min(first ?? step, step)
                }
            }
            // Latency of epoch e: from the last rank's last report of e to the last rank holding the verdict.
            let epochs = Set(ranksRecords.flatMap { $0.verdictHeld.keys })
            for epoch in epochs {
                let reported = ranksRecords.compactMap { $0.lastReport[epoch] }
                let held = ranksRecords.compactMap { $0.verdictHeld[epoch] }
                guard reported.count == ranksRecords.count, held.count == ranksRecords.count,
                      let sent = reported.max(), let got = held.max(), got >= sent else { continue }
                latencies.append(Double(got - sent) / 1e6)
            }
            let decision = ranksRecords[0].decision
            jobs.append(JobResult(
                job: job, steps: steps, disagreements: disagreements, first_disagreement_step: first,
                switched: decision != nil, reason: decision?.reason, switch_step: decision.map { Int($0.step) },
                lr_after_switch: decision?.learningRate, waits: ranksRecords.map(\.waits).reduce(0, +),
                control_reconnects: ranksRecords.map(\.reconnects).reduce(0, +)))
        }
        elapsed_seconds = elapsedSeconds
        loss_reports = reports
        loss_reports_per_second = Double(reports) / max(elapsedSeconds, 1e-9)
        ingest_messages_per_second = loss_reports_per_second / Double(batchSize)
        latencies.sort()
        verdicts_measured = latencies.count
        if !latencies.isEmpty {
            verdict_latency_ms_median = latencies[latencies.count / 2]
            verdict_latency_ms_p99 = latencies[min(latencies.count - 1, Int((Double(latencies.count) * 0.99).rounded(.down)))]
        }
    }

    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    var summary: String {
        var out = ""
        for job in jobs {
            let agreement = job.disagreements == 0 ? "all ranks agreed on every step" : "\(job.disagreements) DISAGREEMENTS (first at step \(job.first_disagreement_step ?? -1))"
            if job.switched, let step = job.switch_step, let rate = job.lr_after_switch, let reason = job.reason {
                out += "\(job.job): switch at step \(step) (\(reason)) to lr \(String(format: "%.6g", rate)); \(job.steps) steps, \(agreement)\n"
            } else {
                out += "\(job.job): no switch within \(job.steps) steps; \(agreement)\n"
            }
        }
        for failure in failures { out += "FAILED \(failure)\n" }
        out += String(format: "ingested %d loss reports in %.2f s: %.0f reports/s (%.0f messages/s)\n",
                      loss_reports, elapsed_seconds, loss_reports_per_second, ingest_messages_per_second)
        if let median = verdict_latency_ms_median, let p99 = verdict_latency_ms_p99 {
            out += String(format: "verdict latency (last report of an epoch -> every rank holds the verdict): median %.2f ms, p99 %.2f ms over %d verdicts\n",
                          median, p99, verdicts_measured)
        }
        return out
    }
}
