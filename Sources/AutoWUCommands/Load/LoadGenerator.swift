import AutoWU
import AutoWUClient
import AutoWUProtocol
import Dispatch
import Foundation
import SwiftProtobuf
import ZeroMQ

/// Plays thousands of ranks from one thread: one event loop (`ZMQPoller`) over one ingest PUB shared by all
/// ranks, a few control DEALERs multiplexing their requests by id, and one events SUB that only counts.
///
/// Each rank reports its losses batched like the Python client, on its own clock at the configured step rate,
/// asks for each epoch's verdict with `Snapshot{need_epoch=e, wait_ms}` as soon as it has sent the epoch's
/// last loss, runs on through the decision delay, and stops at the gate if the reply has not come. The plan
/// comes from snapshot replies only, never from an event's payload (events of token-protected jobs will not
/// carry one).
final class LoadGenerator {
    struct Settings: Sendable {
        var endpoints: DaemonEndpoints
        var jobs: Int
        var ranks: Int
        var stepsPerSecond: Double
        var stepsPerEpoch: Int
        var epochs: Int
        var batchSize = 32
        var decisionDelaySteps = 1
        var waitMilliseconds: UInt32 = 1_000
        var requestTimeoutMilliseconds = 1_500
        var controlSockets = 4
        /// Send each epoch's losses with its snapshot instead of waiting for an ERROR_INCOMPLETE.
        var sendPending = false
        var jobPrefix = "load"
        /// One token for every job (to read them all back with it afterwards); nil: a random one per job.
        var token: String?
        var curve = LoadCurve(trace: nil)
        /// Registrations in flight at once.
        var registrationWindow = 256
        /// The daemon's process (on this machine): its CPU and memory over the run go in the report.
        var daemonPID: Int32?
    }

    let settings: Settings
    private let intervalNanoseconds: UInt64
    private var ranks: [SimulatedRank] = []
    private let jobIDs: [String]
    private let tokens: [String]
    private let topics: [[UInt8]]
    /// Per job and epoch: the plan version that decided it, as the first rank was told (0: not yet).
    private var decidingVersions: [[UInt64]]
    private var incarnations: [UInt64]
    private var shape: LoadJobShape!
    private enum Action { case step(Int), askAgain }
    private var actions = TimedQueue<(rank: Int, action: Action)>()
    private var tally = LoadTally()
    private var active = 0
    private var steadyStart: UInt64 = .max
    private var steadyEnd: UInt64 = .max

    private let context: ZMQContext
    private let ingest: ZMQSocket
    private let events: ZMQSocket
    private let control: ControlMultiplexer

    init(settings: Settings) throws {
        self.settings = settings
        intervalNanoseconds = UInt64(1e9 / settings.stepsPerSecond)
        let run = String(UInt32.random(in: 0 ... .max), radix: 16)
        jobIDs = (0..<settings.jobs).map { "\(settings.jobPrefix)-\(run)-\($0)" }
        // Every job has a secret of its own, as the Slurm scripts give one (the daemon will require it).
        tokens = (0..<settings.jobs).map { _ in settings.token ?? (0..<4).map { _ in String(UInt64.random(in: 0 ... .max), radix: 16) }.joined() }
        topics = jobIDs.map { WireProtocol.ingestTopic(jobID: $0) }
        decidingVersions = Array(repeating: [], count: settings.jobs)
        incarnations = Array(repeating: 0, count: settings.jobs)
        for job in 0..<settings.jobs {
            for rank in 0..<settings.ranks { ranks.append(SimulatedRank(job: job, rank: rank)) }
        }
        let context = try ZMQContext(ioThreads: 1)
        self.context = context
        let endpoints = settings.endpoints
        let keys = endpoints.serverKey == nil ? nil : try CurveKeyPair.generate()
        func open(_ kind: ZMQSocket.Kind) throws -> ZMQSocket {
            let socket = try context.socket(kind)
            try socket.set(.linger, 0)
            // No high-water mark: a message the generator dropped would be a loss of its own, not the daemon's.
            try socket.set(.sndhwm, 0)
            try socket.set(.rcvhwm, 0)
            if let serverKey = endpoints.serverKey, let keys {
                try socket.set(.curveServerKey, serverKey)
                try socket.set(.curvePublicKey, keys.publicKey)
                try socket.set(.curveSecretKey, keys.secretKey)
            }
            return socket
        }
        let events = try open(.sub)
        for id in jobIDs { try events.subscribe(to: WireProtocol.eventsTopic(jobID: id)) }
        try events.connect(endpoints.events)
        self.events = events
        let ingest = try open(.pub)
        try ingest.set(.linger, 2_000)  // the last batches leave on close
        try ingest.connect(endpoints.ingest)
        self.ingest = ingest
        let dealers = try (0..<max(1, settings.controlSockets)).map { _ in try open(.dealer) }
        for dealer in dealers { try dealer.connect(endpoints.control) }
        control = ControlMultiplexer(sockets: dealers)
    }

    func close() {
        control.sockets.forEach { $0.close() }
        events.close()
        ingest.close()
        context.close()
    }

    private static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    private var spec: Autowu_V1_JobSpec {
        let runSteps = settings.epochs * settings.stepsPerEpoch
        return .with {
            $0.stepsPerEpoch = UInt64(settings.stepsPerEpoch)
            // W = T/2 lies past the run: every epoch played is tested.
            $0.totalSteps = UInt64(2 * (runSteps + 2 * settings.stepsPerEpoch))
            $0.worldSize = UInt32(settings.ranks)
            $0.decisionDelaySteps = UInt64(settings.decisionDelaySteps)
        }
    }

    // MARK: - the run

    func run() throws -> LoadReport {
        let before = try ping()
        let registrationStart = Self.now
        try register()
        let registrationSeconds = Double(Self.now - registrationStart) / 1e9
        guard let shape else { throw CommandFailure(message: "error: no job could be registered: \(tally.failures.first ?? "")") }
        let cpuBefore = ProcessCPU.seconds
        let daemonStart = settings.daemonPID.flatMap(DaemonProcessSample.init(pid:))
        let runStart = Self.now + 50_000_000
        // Jobs on a cluster do not start in the same millisecond: their starts are spread over one epoch.
        let epochNanoseconds = UInt64(shape.stepsPerEpoch) * intervalNanoseconds
        steadyStart = runStart + epochNanoseconds
        for index in ranks.indices where ranks[index].phase == .registering {
            let job = ranks[index].job
            ranks[index].clockTime = runStart + epochNanoseconds * UInt64(job) / UInt64(settings.jobs)
            ranks[index].phase = .running
            active += 1
            schedule(index)
        }
        try loop()
        tally.jobsSwitched = Set(ranks.filter(\.isFinal).map(\.job)).count
        let testedEpochs = (0..<shape.epochs).filter(shape.isTested).count
        tally.ranksMissingVerdicts = ranks.filter { !$0.isFinal && $0.verdicts < testedEpochs }.count
        let runSeconds = Double(Self.now - runStart) / 1e9
        let cpuSeconds = ProcessCPU.seconds - cpuBefore
        let daemonEnd = settings.daemonPID.flatMap(DaemonProcessSample.init(pid:))
        let after = try ping()
        let steadySeconds = steadyEnd > steadyStart && steadyEnd != .max ? Double(steadyEnd - steadyStart) / 1e9 : nil
        return LoadReport(settings: settings, shape: shape, tally: tally, registrationSeconds: registrationSeconds,
                          runSeconds: runSeconds, steadySeconds: steadySeconds, generatorCPUSeconds: cpuSeconds,
                          daemonBefore: before, daemonAfter: after, daemonStart: daemonStart, daemonEnd: daemonEnd, resends: control.resends, strayReplies: control.strayReplies)
    }

    /// Every rank registers (idempotent, as every real rank does), a window of them at a time.
    private func register() throws {
        var nextRank = 0
        var outstanding = 0
        var settled = 0
        while settled < ranks.count {
            while outstanding < settings.registrationWindow, nextRank < ranks.count {
                try sendRegister(nextRank)
                nextRank += 1
                outstanding += 1
            }
            for (request, reply) in try awaitReplies() {
                guard case .register = request.body else { continue }
                let index = request.rank
                switch reply.body {
                case .job(let state)?:
                    outstanding -= 1
                    settled += 1
                    tally.registrations += 1
                    adopt(state, rank: index)
                case .error(let error)? where error.code == .errorInternal:
                    tally.count(Self.name(error.code))
                    try sendRegister(index)
                case .error(let error)?:
                    outstanding -= 1
                    settled += 1
                    fail(index, "register: \(Self.name(error.code)): \(error.message)")
                default:
                    outstanding -= 1
                    settled += 1
                    fail(index, "register: unexpected reply")
                }
            }
            for request in try control.resendOverdue(now: Self.now) {
                outstanding -= 1
                settled += 1
                fail(request.rank, "register: no reply after \(ControlMultiplexer.maximumAttempts) attempts")
            }
        }
    }

    private func sendRegister(_ index: Int) throws {
        let rank = ranks[index]
        try control.send(.register(.with {
            $0.jobID = jobIDs[rank.job]
            $0.token = tokens[rank.job]
            $0.rank = UInt32(rank.rank)
            $0.spec = spec
        }), rank: index, attemptMilliseconds: settings.requestTimeoutMilliseconds, now: Self.now)
    }

    /// Polls the control sockets (and the events socket) for up to `timeoutMilliseconds` and returns the replies.
    private func awaitReplies(timeoutMilliseconds: Int = 10) throws -> [(request: ControlMultiplexer.Request, reply: Autowu_V1_Reply)] {
        var poller = ZMQPoller()
        for socket in control.sockets { poller.register(socket) }
        poller.register(events)
        let ready = try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
        if ready.isReadable(events) {
            while try events.receiveMultipart(dontWait: true) != nil { tally.eventsReceived += 1 }
        }
        var replies: [(request: ControlMultiplexer.Request, reply: Autowu_V1_Reply)] = []
        for socket in control.sockets where ready.isReadable(socket) { replies += try control.receive(from: socket) }
        return replies
    }

    /// The event loop: replies first (they carry the latencies), then the actions that are due, then resends.
    private func loop() throws {
        while active > 0 {
            let now = Self.now
            let due = [actions.nextDue, control.nextAttemptEnd].compactMap { $0 }.min() ?? now + 100_000_000
            let timeout = due <= now ? 0 : Int(min(100, (due - now + 999_999) / 1_000_000))
            let replies = try awaitReplies(timeoutMilliseconds: timeout)
            let received = Self.now
            for (request, reply) in replies {
                guard case .snapshot(let snapshot) = request.body else { continue }
                try handle(reply, to: snapshot, rank: request.rank, now: received)
            }
            // Bounded, so that replies are read while a burst of actions is worked off.
            var done = 0
            while done < 2_000, let (due, item) = actions.popDue(now: Self.now) {
                let now = Self.now
                tally.scheduleLag.add(nanoseconds: now - due)
                switch item.action {
                case .step(let step): try act(item.rank, at: step, now: now)
                case .askAgain: if let epoch = ranks[item.rank].asking { try ask(item.rank, epoch: epoch, pending: false, now: now) }
                }
                done += 1
            }
            for request in try control.resendOverdue(now: Self.now) {
                fail(request.rank, "snapshot: no reply after \(ControlMultiplexer.maximumAttempts) attempts")
            }
        }
    }

    private func schedule(_ index: Int) {
        let step = ranks[index].nextActionStep(shape: shape)
        actions.insert((index, .step(step)), due: ranks[index].startTime(of: step, intervalNanoseconds: intervalNanoseconds))
    }

    /// The rank has run every step before `step`: send what is due, ask for the verdict at an epoch's end,
    /// then go on, stop at the gate, or finish.
    private func act(_ index: Int, at step: Int, now: UInt64) throws {
        guard ranks[index].phase == .running else { return }
        ranks[index].next = step
        let rank = ranks[index]
        if step == shape.flushPoint(from: rank.unsentFrom) {
            try sendLosses(index, from: rank.unsentFrom, to: step, now: now)
            ranks[index].unsentFrom = step
            if step % shape.stepsPerEpoch == 0 {
                let epoch = step / shape.stepsPerEpoch - 1
                if !rank.isFinal, epoch > rank.decidedThrough, shape.isTested(epoch) {
                    ranks[index].asking = epoch
                    ranks[index].lastLossSentAt = now
                    tally.verdictsAsked += 1
                    try ask(index, epoch: epoch, pending: settings.sendPending, now: now)
                }
            }
        }
        if step >= shape.runSteps {
            if steadyEnd == .max { steadyEnd = now }
            if ranks[index].asking == nil { finish(index) } else { ranks[index].phase = .finishing }
        } else if !ranks[index].allows(step, shape: shape) {
            ranks[index].phase = .blocked(since: now)
        } else {
            schedule(index)
        }
    }

    private func sendLosses(_ index: Int, from first: Int, to end: Int, now: UInt64) throws {
        guard end > first else { return }
        let batch = lossBatch(index, from: first, to: end)
        // A PUB never blocks; what it would drop is resent at the gate (here it has no high-water mark).
        _ = try ingest.sendMultipart([topics[ranks[index].job], try batch.serializedBytes()])
        tally.lossesSent += end - first
        tally.batchesSent += 1
        if now >= steadyStart, now <= steadyEnd {
            tally.steadyLosses += end - first
            tally.steadyBatches += 1
        }
    }

    private func lossBatch(_ index: Int, from first: Int, to end: Int) -> Autowu_V1_LossBatch {
        let rank = ranks[index]
        return .with {
            $0.protocolVersion = WireProtocol.version
            $0.jobID = jobIDs[rank.job]
            $0.token = tokens[rank.job]
            $0.rank = UInt32(rank.rank)
            $0.firstStep = UInt64(first)
            $0.losses = (first..<end).map { settings.curve.loss(step: $0, rank: rank.rank, worldSize: settings.ranks) }
        }
    }

    /// Snapshot{need_epoch=epoch, wait_ms}; with `pending`, the rank's losses from the epoch's first step on.
    private func ask(_ index: Int, epoch: Int, pending: Bool, now: UInt64) throws {
        let rank = ranks[index]
        let snapshot = Autowu_V1_Snapshot.with {
            $0.jobID = jobIDs[rank.job]
            $0.token = tokens[rank.job]
            $0.rank = UInt32(rank.rank)
            $0.needEpoch = Int64(epoch)
            $0.waitMs = settings.waitMilliseconds
            if pending { $0.pending = lossBatch(index, from: epoch * shape.stepsPerEpoch, to: rank.next) }
        }
        tally.snapshotsSent += 1
        if pending { tally.snapshotsWithPending += 1 }
        try control.send(.snapshot(snapshot), rank: index,
                         attemptMilliseconds: Int(settings.waitMilliseconds) + settings.requestTimeoutMilliseconds, now: now)
    }

    private func handle(_ reply: Autowu_V1_Reply, to snapshot: Autowu_V1_Snapshot, rank index: Int, now: UInt64) throws {
        guard let epoch = ranks[index].asking, Int(snapshot.needEpoch) == epoch else { return }
        switch reply.body {
        case .job(let state)?:
            adopt(state, rank: index)
            if !settle(index, now: now) {
                // Answered at once without deciding: only for an epoch that is never tested, which no rank asks.
                tally.count("undecided_reply")
                try ask(index, epoch: epoch, pending: false, now: now)
            }
        case .error(let error)?:
            tally.count(Self.name(error.code))
            if error.hasJob { adopt(error.job, rank: index) }
            guard !settle(index, now: now) else { return }
            switch error.code {
            case .errorTimeout: try ask(index, epoch: epoch, pending: false, now: now)
            case .errorIncomplete: try ask(index, epoch: epoch, pending: true, now: now)
            case .errorInternal: actions.insert((index, .askAgain), due: now + 100_000_000)
            default: fail(index, "snapshot for epoch \(epoch): \(Self.name(error.code)): \(error.message)")
            }
        default:
            fail(index, "snapshot: unexpected reply")
        }
    }

    /// Takes what a reply says about the job's plan.
    private func adopt(_ state: Autowu_V1_JobState, rank index: Int) {
        let job = ranks[index].job
        if incarnations[job] == 0 {
            incarnations[job] = state.incarnation
        } else if state.incarnation != incarnations[job] {
            tally.incarnationChanges += 1
        }
        ranks[index].decidedThrough = max(ranks[index].decidedThrough, Int(state.plan.decidedThroughEpoch))
        if state.plan.final { ranks[index].isFinal = true }
        if shape == nil {
            shape = LoadJobShape(stepsPerEpoch: Int(state.plan.stepsPerEpoch), decisionDelaySteps: Int(state.plan.decisionDelaySteps),
                                 warmupSteps: Int(state.plan.warmupSteps), worldSize: settings.ranks,
                                 batchSize: settings.batchSize, runSteps: settings.epochs * settings.stepsPerEpoch)
        }
        let decided = Int(state.plan.decidedThroughEpoch)
        if let epoch = ranks[index].asking, decided >= epoch {
            if decidingVersions[job].count <= epoch { decidingVersions[job] += Array(repeating: 0, count: epoch + 1 - decidingVersions[job].count) }
            if decidingVersions[job][epoch] == 0 {
                decidingVersions[job][epoch] = state.version
            } else if decidingVersions[job][epoch] != state.version {
                tally.versionDisagreements += 1
            }
        }
    }

    /// If the plan held now decides the epoch asked for: the verdict's latency, and the rank goes on.
    private func settle(_ index: Int, now: UInt64) -> Bool {
        guard let epoch = ranks[index].asking, ranks[index].isFinal || ranks[index].decidedThrough >= epoch else { return false }
        ranks[index].asking = nil
        ranks[index].verdicts += 1
        tally.verdictsReceived += 1
        tally.verdictLatency.add(nanoseconds: now - ranks[index].lastLossSentAt)
        switch ranks[index].phase {
        case .blocked(let since):
            tally.gateWaits += 1
            tally.gateWaitNanoseconds += now - since
            ranks[index].clockStep = ranks[index].next
            ranks[index].clockTime = now
            ranks[index].phase = .running
            schedule(index)
        case .finishing:
            finish(index)
        default:
            break
        }
        return true
    }

    private func finish(_ index: Int) {
        ranks[index].phase = .done
        active -= 1
    }

    private func fail(_ index: Int, _ message: String) {
        let rank = ranks[index]
        if rank.phase == .done || rank.phase == .failed { return }
        if rank.phase != .registering { active -= 1 }
        ranks[index].phase = .failed
        tally.count("rank_failed")
        if tally.failures.count < 20 { tally.failures.append("\(jobIDs[rank.job]) rank \(rank.rank): \(message)") }
    }

    /// A Ping through the multiplexer: the daemon's counters.
    private func ping() throws -> [String: UInt64] {
        try control.send(.ping(.init()), rank: 0, attemptMilliseconds: settings.requestTimeoutMilliseconds, now: Self.now)
        let deadline = Self.now + 10_000_000_000
        while Self.now < deadline {
            for (request, reply) in try awaitReplies(timeoutMilliseconds: 100) {
                if case .ping = request.body, case .pong(let status)? = reply.body { return status.counters }
            }
            _ = try control.resendOverdue(now: Self.now)
        }
        throw CommandFailure(message: "error: the daemon at \(settings.endpoints.control) does not answer a ping")
    }

    static func name(_ code: Autowu_V1_ErrorCode) -> String { "\(code)" }
}
