import ArgumentParser
import AutoWUClient
import AutoWUProtocol
import Foundation

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Measure a running autowud's capacity: thousands of ranks played from one thread.",
        discussion: """
            One process, one event loop, a handful of sockets (one ingest PUB for all ranks, a few control \
            DEALERs multiplexing requests by id, one events SUB that only counts), so that the daemon's capacity \
            is measured, not that of thousands of client threads. Every job has a random token of its own. Each \
            rank steps on its own clock at --steps-per-second, reports its losses in batches as the Python client \
            does by default (every --batch-size steps and at every epoch's end), asks for each epoch's verdict \
            with Snapshot{need_epoch, wait_ms} as soon as it has sent the epoch's last loss (resending its losses \
            after ERROR_INCOMPLETE), runs on through the decision delay, and stops at the gate if the reply has \
            not come. Plans are read from snapshot replies only. Jobs start spread over one epoch. \
            Printed: reports/s (offered, sent, ingested), verdict latency (a rank's last loss of an epoch sent -> \
            the reply deciding the epoch) p50/p99/max, errors by code, and the generator's own lag behind its \
            schedule: when it falls behind, the figures do not measure the daemon and the output says so.
            """)

    @Option(help: "Jobs played at once.")
    var jobs = 100

    @Option(help: "Ranks per job (the job's world size).")
    var ranks = 8

    @Option(help: "Training steps per second of every rank.")
    var stepsPerSecond = 10.0

    @Option(help: "Steps per epoch: one verdict per job and epoch.")
    var stepsPerEpoch = 100

    @Option(help: "Epochs each rank plays (default: as many as --duration takes).")
    var epochs: Int?

    @Option(help: "Seconds each rank plays, rounded to whole epochs (ignored with --epochs).")
    var duration = 60.0

    @Option(help: "The loss trace (CSV with a `loss` column), played again from its start past its end; default: a synthetic curve that keeps falling, so no job leaves its warmup.")
    var trace: String?

    @Option(help: "Losses per ingest message (the Python client's default).")
    var batchSize = 32

    @Option(help: "The jobs' decision_delay_steps (below --steps-per-epoch).")
    var decisionDelaySteps = 1

    @Option(help: "How long the daemon may hold a waiting snapshot, in ms.")
    var waitMs = 1_000

    @Option(help: "Control DEALER sockets the ranks' requests are spread over.")
    var controlSockets = 4

    @Flag(help: "Send each epoch's losses with its snapshot (no ERROR_INCOMPLETE round trip, twice the losses).")
    var pending = false

    @Option(help: "Job ids are PREFIX-RUN-N, RUN random per run.")
    var jobPrefix = "load"

    @Option(help: "One token for every job, so that `autowu jobs` with AUTOWU_TOKEN shows them all afterwards (default: a random token per job).")
    var token: String?

    @Option(help: "The daemon's control endpoint tcp://HOST:PORT (ingest PORT+1, events PORT+2); default: AUTOWU_* or local defaults.")
    var endpoint: String?

    @Option(help: "The daemon's process id, when it runs on this machine: its CPU and memory over the run are reported (from /proc).")
    var daemonPid: Int32?

    @Flag(help: "Print one JSON object with the results.")
    var json = false

    func validate() throws {
        guard jobs >= 1, ranks >= 1, ranks <= Int(WireProtocol.maximumWorldSize), batchSize >= 1 else {
            throw ValidationError("--jobs, --ranks and --batch-size must be at least 1 (--ranks at most \(WireProtocol.maximumWorldSize))")
        }
        guard stepsPerSecond > 0, stepsPerSecond <= 10_000, stepsPerEpoch >= 1, (epochs ?? 1) >= 1, duration > 0 else {
            throw ValidationError("--steps-per-second must lie in (0, 10000], --steps-per-epoch and --epochs be at least 1, --duration positive")
        }
        guard decisionDelaySteps >= 0, decisionDelaySteps < stepsPerEpoch else {
            throw ValidationError("--decision-delay-steps must lie in 0 ..< --steps-per-epoch (a rank asks for one verdict at a time)")
        }
        guard waitMs >= 1, waitMs <= Int(WireProtocol.maximumWaitMilliseconds), controlSockets >= 1 else {
            throw ValidationError("--wait-ms must lie in 1...\(WireProtocol.maximumWaitMilliseconds), --control-sockets be at least 1")
        }
        if let token, token.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--token must not be empty")
        }
    }

    func run() throws {
        let settings: LoadGenerator.Settings
        do {
            let played = epochs ?? max(1, Int((duration * stepsPerSecond / Double(stepsPerEpoch)).rounded()))
            var loaded = LoadGenerator.Settings(
                endpoints: try DaemonEndpoints.fromEnvironment(base: endpoint), jobs: jobs, ranks: ranks,
                stepsPerSecond: stepsPerSecond, stepsPerEpoch: stepsPerEpoch, epochs: played, batchSize: batchSize,
                decisionDelaySteps: decisionDelaySteps, waitMilliseconds: UInt32(waitMs), controlSockets: controlSockets,
                sendPending: pending, jobPrefix: jobPrefix, curve: LoadCurve(trace: try trace.map { try LossTrace.read(path: $0).losses }))
            loaded.daemonPID = daemonPid
            loaded.token = token
            settings = loaded
        } catch {
            throw CommandFailure(message: "error: \(error)")
        }
        let generator = try LoadGenerator(settings: settings)
        defer { generator.close() }
        let report = try generator.run()
        print(json ? try report.jsonString() : report.summary, terminator: json ? "\n" : "")
        if !report.failures.isEmpty || report.version_disagreements > 0 { throw ExitCode(1) }
    }
}
