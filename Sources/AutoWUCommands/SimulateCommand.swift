import ArgumentParser
import AutoWU
import AutoWUClient
import AutoWUProtocol
import Foundation

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Play a loss trace as N ranks of one or more jobs against a running autowud.",
        discussion: """
            Every rank is its own client with its own sockets, on its own thread: it asks the daemon for the LR \
            of each step (waiting at gates as the protocol says), records it, and reports the trace's loss for \
            that step (rank r adds (r - (N-1)/2) * 1e-3 * |loss|, N the world size, so the ranks differ but average to the \
            trace). Row i of the trace is the loss of step i (0-based, whatever its step column says); a rank stops \
            at the trace's end or one epoch after the switch step, whichever comes first, never later than T. \
            --world-size and --first-rank play only some ranks of a larger job, the others being other clients'. \
            At the end every rank's LR sequence is compared bit for bit; any disagreement exits with status 1. \
            With several jobs and a step interval, the jobs' starts are spread over one epoch's time. \
            Figures printed: loss reports ingested per second and the latency from an epoch's last report to \
            every rank holding its verdict. One process plays as many ranks (over all jobs) as its open-file \
            limit allows: 6 descriptors per rank, the soft limit raised to the hard one at start (hard limit \
            20000: about 3,300 ranks).
            """)

    @Argument(help: "The loss trace (CSV with a `loss` column).")
    var trace: String

    @Option(help: "Training steps per epoch.")
    var stepsPerEpoch: Int

    @Option(help: "Total training steps T.")
    var totalSteps: Int

    @Option(help: "Ranks per job this process plays.")
    var ranks = 4

    @Option(help: "The job's world_size (default: --ranks); more than --ranks leaves ranks for other clients to play.")
    var worldSize: Int?

    @Option(help: "The first rank this process plays: it plays --first-rank ..< --first-rank + --ranks.")
    var firstRank = 0

    @Option(help: "Jobs played at once (ids JOB-ID-0, JOB-ID-1, ... when more than one).")
    var jobs = 1

    @Option(help: "Job id.")
    var jobID = "simulated"

    @Option(help: "Decay schedule after the switch: cosine or constant-cosine.")
    var decay: DecayOption = .cosine

    @Option(help: "Losses per ingest message.")
    var batchSize = 1

    @Option(help: "Microseconds each rank idles per step (listening for plan updates), to mimic training time.")
    var stepIntervalUs = 0

    @Option(help: "Steps a rank waits, in all, for a verdict before it gives up (seconds).")
    var waitBound = 120.0

    @Option(help: "The daemon's control endpoint tcp://HOST:PORT (ingest PORT+1, events PORT+2); default: AUTOWU_* or local defaults.")
    var endpoint: String?

    @Option(help: "The job's token, a secret its ranks share (default: AUTOWU_TOKEN, else a new random one; \"\" for none).")
    var token: String?

    @Flag(help: "Register with a MUNGE credential: the job belongs to this uid (munged must run here).")
    var munge = false

    @Option(help: "Steps between an epoch's end and the step its verdict applies at (the job's decision_delay_steps).")
    var decisionDelaySteps = 1

    @Option(help: "The minimum test: robust (default) or paper.")
    var test: MinimumTestKind = .robust

    @Option(help: "The warmup policy: hold (default) or paper.")
    var policy: WarmupPolicy = .hold

    @Option(help: "GP solver the daemon uses for these jobs: fast or exact.")
    var solver: SolverKind = .fast

    @Flag(help: "Print one JSON object with the results.")
    var json = false

    func validate() throws {
        guard ranks >= 1, jobs >= 1, batchSize >= 1, stepIntervalUs >= 0 else {
            throw ValidationError("--ranks, --jobs and --batch-size must be at least 1, --step-interval-us at least 0")
        }
        guard stepsPerEpoch >= 1, totalSteps >= 1 else { throw ValidationError("--steps-per-epoch and --total-steps must be at least 1") }
        let world = worldSize ?? ranks
        guard firstRank >= 0, firstRank + ranks <= world, world <= Int(WireProtocol.maximumWorldSize) else {
            throw ValidationError("the ranks played, --first-rank \(firstRank) to \(firstRank + ranks - 1), must lie in 0 to --world-size - 1 = \(world - 1) (world size at most \(WireProtocol.maximumWorldSize))")
        }
    }

    func run() throws {
        let loaded: LossTrace
        let endpoints: DaemonEndpoints
        do {
            loaded = try LossTrace.read(path: trace)
            endpoints = try DaemonEndpoints.fromEnvironment(base: endpoint)
        } catch {
            throw CommandFailure(message: "error: \(error)")
        }
        let spec = Autowu_V1_JobSpec.with {
            $0.stepsPerEpoch = UInt64(stepsPerEpoch)
            $0.totalSteps = UInt64(totalSteps)
            $0.worldSize = UInt32(worldSize ?? ranks)
            $0.decay = decay == .cosine ? .decayCosine : .decayConstantCosine
            $0.solver = solver == .fast ? .solverFast : .solverExact
            $0.test = test == .robust ? .testRobust : .testPaper
            $0.policy = policy == .hold ? .policyHold : .policyPaper
            $0.decisionDelaySteps = UInt64(max(0, decisionDelaySteps))
        }
        try Simulation.prepare(ranks: ranks * jobs)
        // With MUNGE the job's name is its owner's (SPEC section 3): nobody else can register it first.
        let prefix = "u\(getuid()):"
        let baseID = munge && !jobID.hasPrefix(prefix) ? prefix + jobID : jobID
        let ids = jobs == 1 ? [baseID] : (0..<jobs).map { "\(baseID)-\($0)" }
        let given = token ?? ProcessInfo.processInfo.environment["AUTOWU_TOKEN"]
        let jobToken = given ?? (munge ? "" : TokenCommand.newToken())
        if given == nil, !jobToken.isEmpty {
            // Without it nobody but an admin could read the job afterwards.
            FileHandle.standardError.write(Data("autowu simulate: made the token \(jobToken) for this run: export AUTOWU_TOKEN=\(jobToken) to read its jobs (autowu jobs) or to play more of their ranks\n".utf8))
        }
        var simulation = Simulation(trace: loaded.losses, spec: spec, endpoints: endpoints,
                                    token: jobToken, ranks: ranks, firstRank: firstRank,
                                    batchSize: batchSize, stepIntervalMicroseconds: stepIntervalUs, waitBoundSeconds: waitBound)
        simulation.useMunge = munge
        let result = simulation.run(jobIDs: ids)
        if json {
            print(try result.jsonString())
        } else {
            print(result.summary, terminator: "")
        }
        if !result.failures.isEmpty || result.jobs.contains(where: { $0.disagreements > 0 }) {
            throw ExitCode(1)
        }
    }
}
