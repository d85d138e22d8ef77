import Foundation

/// The figures of one `autowu load` run (snake_case: the `--json` output).
struct LoadReport: Codable {
    struct Percentiles: Codable {
        var p50_ms: Double
        var p99_ms: Double
        var max_ms: Double
    }

    var jobs: Int
    var ranks: Int
    var steps_per_second: Double
    var steps_per_epoch: Int
    var epochs: Int
    var batch_size: Int
    var decision_delay_steps: Int
    var curve: String
    var registration_seconds: Double
    var registrations_per_second: Double
    var run_seconds: Double
    /// jobs x ranks x steps/s: what the schedule asks for.
    var offered_losses_per_second: Double
    /// Sent while every job was running (from the last job's start to the first rank's end).
    var losses_per_second: Double
    var batches_per_second: Double
    var losses_sent: Int
    var batches_sent: Int
    /// From the daemon's counters over the whole run (ramp-up and ramp-down included).
    var daemon_losses_per_second: Double
    var daemon_messages_per_second: Double
    var daemon_tests_per_second: Double
    /// With --daemon-pid: the daemon's CPU over the run (100 = one core) and its resident memory at the end.
    var daemon_cpu_percent: Double?
    var daemon_rss_mb: Double?
    var daemon_peak_rss_mb: Double?
    var snapshots_sent: Int
    var snapshots_with_pending: Int
    var verdicts_asked: Int
    var verdicts_received: Int
    var jobs_switched: Int
    var ranks_missing_verdicts: Int
    /// From a rank's send of its last loss of epoch e to the reply whose plan decides e.
    var verdict_latency: Percentiles?
    var gate_waits: Int
    var gate_wait_seconds: Double
    /// Error replies by code, the generator's resends (`no_reply`) and given-up ranks (`rank_failed`).
    var errors: [String: Int]
    var version_disagreements: Int
    var incarnation_changes: Int
    var events_received: Int
    var failures: [String]
    /// How late the generator ran the ranks' scheduled steps.
    var generator_lag: Percentiles?
    var generator_cpu_percent: Double
    var generator_kept_up: Bool

    /// The generator kept up when its p99 lag stays within this.
    static let keptUpLagMilliseconds = 10.0

    init(settings: LoadGenerator.Settings, shape: LoadJobShape, tally: LoadTally, registrationSeconds: Double, runSeconds: Double,
         steadySeconds: Double?, generatorCPUSeconds: Double, daemonBefore: [String: UInt64], daemonAfter: [String: UInt64],
         daemonStart: DaemonProcessSample?, daemonEnd: DaemonProcessSample?, resends: Int, strayReplies: Int) {
        func perSecond(_ count: Int, _ seconds: Double) -> Double { Double(count) / max(seconds, 1e-9) }
        func daemonRate(_ key: String) -> Double {
            perSecond(Int((daemonAfter[key] ?? 0) &- (daemonBefore[key] ?? 0)), runSeconds)
        }
        jobs = settings.jobs
        ranks = settings.ranks
        steps_per_second = settings.stepsPerSecond
        steps_per_epoch = shape.stepsPerEpoch
        epochs = shape.epochs
        batch_size = shape.batchSize
        decision_delay_steps = shape.decisionDelaySteps
        curve = settings.curve.trace == nil ? "synthetic" : "trace"
        registration_seconds = registrationSeconds
        registrations_per_second = perSecond(tally.registrations, registrationSeconds)
        run_seconds = runSeconds
        offered_losses_per_second = Double(settings.jobs * settings.ranks) * settings.stepsPerSecond
        losses_per_second = steadySeconds.map { perSecond(tally.steadyLosses, $0) } ?? perSecond(tally.lossesSent, runSeconds)
        batches_per_second = steadySeconds.map { perSecond(tally.steadyBatches, $0) } ?? perSecond(tally.batchesSent, runSeconds)
        losses_sent = tally.lossesSent
        batches_sent = tally.batchesSent
        daemon_losses_per_second = daemonRate("ingest.losses")
        daemon_messages_per_second = daemonRate("ingest.messages")
        daemon_tests_per_second = daemonRate("tests.run")
        if let daemonStart, let daemonEnd {
            daemon_cpu_percent = 100 * (daemonEnd.cpuSeconds - daemonStart.cpuSeconds) / max(runSeconds, 1e-9)
            daemon_rss_mb = Double(daemonEnd.residentBytes) / 1_048_576
            daemon_peak_rss_mb = Double(daemonEnd.peakResidentBytes) / 1_048_576
        }
        snapshots_sent = tally.snapshotsSent
        snapshots_with_pending = tally.snapshotsWithPending
        verdicts_asked = tally.verdictsAsked
        verdicts_received = tally.verdictsReceived
        jobs_switched = tally.jobsSwitched
        ranks_missing_verdicts = tally.ranksMissingVerdicts
        verdict_latency = tally.verdictLatency.summary()
        gate_waits = tally.gateWaits
        gate_wait_seconds = Double(tally.gateWaitNanoseconds) / 1e9
        var errors = tally.errors
        if resends > 0 { errors["no_reply", default: 0] += resends }
        if strayReplies > 0 { errors["stray_reply", default: 0] += strayReplies }
        self.errors = errors
        version_disagreements = tally.versionDisagreements
        incarnation_changes = tally.incarnationChanges
        events_received = tally.eventsReceived
        failures = tally.failures
        generator_lag = tally.scheduleLag.summary()
        generator_cpu_percent = 100 * generatorCPUSeconds / max(runSeconds, 1e-9)
        generator_kept_up = (generator_lag?.p99_ms ?? 0) <= Self.keptUpLagMilliseconds
    }

    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    var summary: String {
        func ms(_ value: Double) -> String { String(format: value < 10 ? "%.2f ms" : "%.0f ms", value) }
        func rate(_ value: Double) -> String { String(format: "%.0f", value) }
        var out = "\(jobs) jobs x \(ranks) ranks at \(steps_per_second.formatted()) steps/s: \(epochs) epochs of \(steps_per_epoch) steps, "
            + "batches of \(batch_size), decision delay \(decision_delay_steps), \(curve) losses\n"
        out += String(format: "registered %d ranks in %.2f s (%.0f/s)\n", jobs * ranks, registration_seconds, registrations_per_second)
        out += "reports: offered \(rate(offered_losses_per_second)) losses/s; sent \(rate(losses_per_second)) losses/s in "
            + "\(rate(batches_per_second)) batches/s while every job ran; the daemon ingested \(rate(daemon_losses_per_second)) losses/s "
            + "in \(rate(daemon_messages_per_second)) messages/s over the whole run (\(String(format: "%.1f", run_seconds)) s), "
            + "and ran \(rate(daemon_tests_per_second)) tests/s\n"
        if let cpu = daemon_cpu_percent, let rss = daemon_rss_mb, let peak = daemon_peak_rss_mb {
            out += String(format: "daemon: %.0f%% of a core over the run; resident %.0f MB at the end, peak %.0f MB\n", cpu, rss, peak)
        }
        out += "verdicts: \(verdicts_received) of \(verdicts_asked) asked (\(jobs_switched) jobs ended their warmup, \(ranks_missing_verdicts) ranks missed some)"
        if let latency = verdict_latency {
            out += "; latency (a rank's last loss of an epoch sent -> the reply deciding it) p50 \(ms(latency.p50_ms)), "
                + "p99 \(ms(latency.p99_ms)), max \(ms(latency.max_ms))"
        }
        out += "\n"
        out += String(format: "gate waits: %d (%.2f s in all); snapshots sent: %d (%d with pending losses)\n",
                      gate_waits, gate_wait_seconds, snapshots_sent, snapshots_with_pending)
        out += "errors: " + (errors.isEmpty ? "none" : errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) + "\n"
        out += version_disagreements == 0 && incarnation_changes == 0
            ? "plans: every rank of a job was told the same version for every verdict\n"
            : "plans: \(version_disagreements) VERSION DISAGREEMENTS, \(incarnation_changes) incarnation changes\n"
        for failure in failures { out += "FAILED \(failure)\n" }
        if let lag = generator_lag {
            out += "generator: lag behind schedule p50 \(ms(lag.p50_ms)), p99 \(ms(lag.p99_ms)), max \(ms(lag.max_ms)); "
                + String(format: "%.0f%% of a core", generator_cpu_percent) + "\n"
        }
        if !generator_kept_up {
            out += "WARNING: THE GENERATOR FELL BEHIND ITS SCHEDULE (p99 lag over \(Self.keptUpLagMilliseconds.formatted()) ms): "
                + "the load was not offered on time and the latencies include the generator's own delays; "
                + "these figures do not measure the daemon\n"
        }
        return out
    }
}
