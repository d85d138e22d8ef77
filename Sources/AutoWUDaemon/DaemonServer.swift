import AutoWU
import AutoWUProtocol
import AutoWUStore
import Dispatch
import Foundation
import Logging
import SwiftProtobuf
import ZeroMQ

/// The daemon's I/O thread: it owns the three sockets and every `Job`, and never waits for a test.
///
/// Loop: poll control, ingest and the wakeup pipe; handle what came in; publish finished tests; expire
/// deadlines; hand closed epochs to the jobs' queues (at most `testWorkers` at a time).
final class DaemonServer {
    let configuration: DaemonConfiguration
    let logger: Logger
    /// Held while the daemon lives: no second daemon serves this data directory.
    let lock: DataDirectoryLock
    let store: JobStore
    let wakeup: Wakeup
    let policy: AccessPolicy
    private let tokenMint: TokenMint
    private let started = Date()
    private(set) var jobs: [String: Job] = [:]
    /// Jobs whose stored record does not decode: reported, never dropped.
    private var brokenJobs: [String: BrokenJob] = [:]
    private var budget: MemoryBudget
    private var storeHealth = StoreHealth()
    private var counters = Counters()
    private let metrics: DaemonMetrics
    /// Jobs with a closed epoch waiting for a test slot, in arrival order, from `readyHead` on (taking the
    /// first must not shift thousands of ids).
    private var readyJobs: [String] = []
    private var readyHead = 0
    /// The same ids, to tell in O(1) whether a job is queued already (it is asked after every loss batch).
    private var readyJobSet: Set<String> = []
    private var testsInFlight = 0
    /// Tested, waiting for the next group commit.
    private var unpersisted: [EpochTest.Result] = []
    /// Writes the group commits off this thread; one at a time.
    private let writer: StoreWriter
    /// Shared by every job's serial queue.
    private let testPool = DispatchQueue(label: "autowu.tests", attributes: .concurrent)
    private var nextExpiryCheck = Date()
    /// When jobs have a waiting snapshot's deadline or check, or a close deadline, due: the loop visits only
    /// those jobs, so thousands of waiting snapshots are not all scanned after every message.
    private var timers = JobTimers<Job>()
    static let incompleteGraceMilliseconds = 20
    /// Attempts at one epoch's test before its job is failed (a failure is a bug: the core answers every input).
    static let maximumTestAttempts = 2

    private var control: ZMQSocket!
    private var handshakeLog: HandshakeLog?
    private var ingest: ZMQSocket!
    private var events: ZMQSocket!
    /// The bound endpoints (ports resolved when bound to `*`).
    private(set) var endpoints: (control: String, ingest: String, events: String) = ("", "", "")

    init(configuration: DaemonConfiguration, logger: Logger, metrics: DaemonMetrics = .disabled()) throws {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.wakeup = try Wakeup()
        self.budget = MemoryBudget(limitBytes: configuration.memoryBudgetBytes)
        do {
            self.lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        } catch {
            throw DaemonError.store("\(error)")
        }
        do {
            self.store = try JobStore(directory: configuration.dataDirectory)
        } catch {
            throw DaemonError.store("cannot open the store in \(configuration.dataDirectory): \(error)")
        }
        // Before "ready": a daemon that cannot record a verdict must not take jobs.
        do {
            try store.checkWritable()
        } catch {
            throw DaemonError.store("\(error)")
        }
        self.writer = StoreWriter(store: store, wakeup: wakeup)
        self.tokenMint = try TokenMint(directory: configuration.dataDirectory)
        self.policy = AccessPolicy(allowAnonymous: configuration.allowAnonymous,
                                   adminUIDs: configuration.adminUIDs.union([UInt32(geteuid())]),
                                   mungeSocket: configuration.mungeSocket)
        try loadJobs()
    }

    // MARK: - start-up

    private func loadJobs() throws {
        for stored in try store.loadJobs() {
            var part = "spec"
            do {
                let spec = try Autowu_V1_JobSpec(serializedBytes: stored.spec)
                let parameters = try JobParameters(spec: spec, jobID: stored.jobID)
                part = "controller"
                let controller = try WarmupController(persisted: stored.controller)
                part = "state"
                let state = try Autowu_V1_JobState(serializedBytes: stored.state)
                guard state.jobID == stored.jobID else {
                    throw DaemonError.store("it names job \"\(state.jobID.prefix(140))\"")
                }
                let job = Job(id: stored.jobID, parameters: parameters, spec: spec, access: stored.access,
                              controller: controller, state: state, target: testPool)
                job.lastActivity = Date(timeIntervalSince1970: stored.updatedAt)
                jobs[stored.jobID] = job
                account(job)
                logger.info("job reloaded", metadata: ["job": "\(stored.jobID)", "phase": "\(stored.phase)",
                                                       "epochs": "\(controller.epochsCompleted)", "version": "\(state.version)"])
            } catch {
                let broken = BrokenJob(id: stored.jobID, access: stored.access,
                                       reason: "its \(part) does not decode (\(String("\(error)".prefix(300))))")
                brokenJobs[stored.jobID] = broken
                logger.error("a stored job is broken; left in the store untouched, its ranks are told",
                             metadata: ["job": "\(stored.jobID)", "error": "\(broken.reason)"])
            }
        }
    }

    /// Binds the sockets. Call on the I/O thread (sockets stay on the thread that made them).
    func bind(context: ZMQContext) throws {
        control = try context.socket(.router)
        ingest = try context.socket(.sub)
        events = try context.socket(.pub)
        for socket in [control!, ingest!, events!] {
            try socket.set(.linger, 0)
            if let key = configuration.curveSecretKey {
                try socket.set(.curveServer, true)
                try socket.set(.curveSecretKey, key)
            }
        }
        try control.set(.maxMessageSize, WireProtocol.maximumMessageBytes)
        try ingest.set(.maxMessageSize, WireProtocol.maximumMessageBytes)
        try ingest.set(.rcvhwm, configuration.ingestHighWaterMark)
        try events.set(.sndhwm, 100_000)
        try ingest.subscribe(to: [UInt8]())
        if configuration.curveSecretKey != nil {
            handshakeLog = try HandshakeLog(context: context, sockets: [("control", control), ("ingest", ingest), ("events", events)], logger: logger)
        }
        for (socket, name, endpoint) in [(control!, "control", configuration.controlEndpoint),
                                         (ingest!, "ingest", configuration.ingestEndpoint),
                                         (events!, "events", configuration.eventsEndpoint)] {
            do {
                try socket.bind(endpoint)
            } catch {
                throw DaemonError.system("cannot bind the \(name) socket to \(endpoint): \(error) (libzmq binds to an IP address or an interface name, not a host name; is the port in use?)")
            }
        }
        endpoints = (try control.lastEndpoint, try ingest.lastEndpoint, try events.lastEndpoint)
    }

    // MARK: - the loop

    func runLoop() throws {
        var poller = ZMQPoller()
        poller.register(control)
        poller.register(ingest)
        poller.register(fileDescriptor: wakeup.readDescriptor)
        while !wakeup.isStopRequested {
            let result = try poller.poll(timeoutMilliseconds: nextTimeoutMilliseconds())
            if result.isReadable(ingest) { try drainIngest() }
            if result.isReadable(control) { try drainControl() }
            if result.events(forFileDescriptor: wakeup.readDescriptor).contains(.readable) { handleWakeup() }
            serviceTimersAndTests()
        }
        // Let running tests finish and land in the store, then leave one self-contained file: the
        // write-ahead log checkpointed into it and truncated.
        logger.info("stopping", metadata: ["tests_in_flight": "\(testsInFlight)"])
        settle()
        do {
            let complete = try store.checkpoint()
            logger.info("store checkpointed", metadata: ["complete": "\(complete)", "unrecorded_verdicts": "\(unpersisted.count)"])
        } catch {
            logger.warning("the store's log could not be checkpointed; SQLite replays it on the next start", metadata: ["error": "\(error)"])
        }
    }

    /// The loop's work after the messages: expired deadlines, tests to start, tested outcomes to store.
    func serviceTimersAndTests() {
        expireDeadlines()
        dispatchTests()
        commitTested()
        metrics.sample(jobs: jobs.values, brokenJobs: brokenJobs.count, counters: counters)
    }

    /// Closes whichever sockets exist (idempotent).
    func closeSockets() {
        control?.close()
        ingest?.close()
        events?.close()
        handshakeLog?.stop()
        handshakeLog = nil
    }

    private func nextTimeoutMilliseconds() -> Int {
        let now = DispatchTime.now()
        var earliest = DispatchTime.now() + .milliseconds(1000)
        if !unpersisted.isEmpty, !storeHealth.isHealthy { earliest = min(earliest, storeHealth.nextAttempt) }
        if let due = timers.earliest { earliest = min(earliest, due) }
        guard earliest > now else { return 0 }
        return Int((earliest.uptimeNanoseconds - now.uptimeNanoseconds + 999_999) / 1_000_000)
    }

    /// Takes what is queued now, bounded so that one busy socket cannot starve the other.
    private func drainIngest() throws {
        for _ in 0..<4096 {
            guard let frames = try ingest.receiveMultipart(dontWait: true) else { return }
            handleIngest(frames)
        }
    }

    private func drainControl() throws {
        for _ in 0..<1024 {
            guard let frames = try control.receiveMultipart(dontWait: true) else { return }
            try handleControl(frames)
        }
    }

    // MARK: - ingest

    func handleIngest(_ frames: [[UInt8]]) {
        counters.ingestMessages &+= 1
        guard frames.count == 2, let batch = try? Autowu_V1_LossBatch(serializedBytes: frames[1]) else {
            counters.add("ingest.malformed")
            return
        }
        guard batch.protocolVersion == WireProtocol.version else {
            counters.add("ingest.unsupported_version")
            return
        }
        guard let job = jobs[batch.jobID] else {
            counters.add(brokenJobs[batch.jobID] == nil ? "ingest.unknown_job" : "ingest.broken_job")
            return
        }
        guard job.accepts(token: batch.token) else {
            counters.add("ingest.unauthorized")
            return
        }
        if let problem = merge(batch, into: job) {
            counters.add("ingest.\(problem)")
        }
    }

    /// Adds a batch's losses to its job; returns the name of what was wrong with it, if anything.
    private func merge(_ batch: Autowu_V1_LossBatch, into job: Job) -> String? {
        guard batch.losses.count <= WireProtocol.maximumBatchLosses else { return "too_large" }
        let totalSteps = UInt64(job.parameters.configuration.totalSteps)
        guard batch.firstStep < totalSteps else { return "out_of_range" }
        counters.ingestLosses &+= UInt64(batch.losses.count)
        guard !batch.losses.isEmpty else { return nil }
        // Steps past total_steps do not exist: dropped (counted), and never counted in steps_seen.
        let usable = Int(min(UInt64(batch.losses.count), totalSteps - batch.firstStep))
        if usable < batch.losses.count { counters.add("ingest.out_of_range", batch.losses.count - usable) }
        guard job.isWarmingUp else {
            job.noteSteps(upTo: Int(batch.firstStep) + usable - 1)
            counters.add("ingest.after_warmup", usable)
            return nil
        }
        guard budget.allows(usable * LossAggregator.bytesPerReport) else { return "over_budget" }
        job.noteSteps(upTo: Int(batch.firstStep) + usable - 1)
        var tally = LossAggregator.Counts()
        let rank = Int(batch.rank)
        for (offset, loss) in batch.losses.prefix(usable).enumerated() {
            tally.add(job.aggregator.record(rank: rank, step: Int(batch.firstStep) + offset, loss: loss))
        }
        counters.add(tally)
        job.closeReadyEpochs()
        account(job)
        markReady(job)
        return nil
    }

    /// Brings the memory budget up to date with what `job` holds now.
    private func account(_ job: Job) {
        budget.update(job.id, bytes: job.memoryBytes)
    }

    // MARK: - control

    func handleControl(_ frames: [[UInt8]]) throws {
        counters.add("control.requests")
        guard frames.count >= 2 else { return counters.add("control.malformed") }  // no peer to answer
        let peer = frames[0]
        let body: [UInt8]
        switch frames.count {
        case 2: body = frames[1]
        case 3 where frames[1].isEmpty: body = frames[2]
        default:
            return try reply(to: peer, requestID: 0, error: ProtocolError(.errorMalformed, "expected the frames [\"\", Request], got \(frames.count - 1) frames"))
        }
        let request: Autowu_V1_Request
        do {
            request = try Autowu_V1_Request(serializedBytes: body)
        } catch {
            return try reply(to: peer, requestID: 0, error: ProtocolError(.errorMalformed, "the body is not an autowu.v1.Request"))
        }
        guard request.protocolVersion == WireProtocol.version else {
            return try reply(to: peer, requestID: request.requestID, error: ProtocolError(
                .errorUnsupportedVersion, "protocol version \(request.protocolVersion) is not supported; this daemon speaks \(WireProtocol.version)"))
        }
        do {
            switch request.body {
            case .register(let register)?:
                let (state, token) = try registerJob(register)
                try send(to: peer, .with { $0.requestID = request.requestID; $0.job = state; $0.jobToken = token ?? "" })
            case .snapshot(let snapshot)?:
                try handleSnapshot(snapshot, peer: peer, requestID: request.requestID)
            case .status(let status)?:
                try send(to: peer, .with { $0.requestID = request.requestID; $0.jobs = try jobList(status) })
            case .expireJob(let expire)?:
                try send(to: peer, .with { $0.requestID = request.requestID; $0.jobs = try expireJob(expire) })
            case .ping?:
                try send(to: peer, .with { $0.requestID = request.requestID; $0.pong = daemonStatus })
            case nil:
                throw ProtocolError(.errorMalformed, "the request has no body")
            }
        } catch let error as ProtocolError {
            try reply(to: peer, requestID: request.requestID, error: error)
        }
    }

    /// `credentials`: whether the request could have carried a MUNGE credential (a snapshot cannot).
    private func job(_ id: String, caller: AccessPolicy.Caller, credentials: Bool = true) throws -> Job {
        guard let job = jobs[id] else { throw ProtocolError(.errorUnknownJob, "no job \"\(id)\" is registered") }
        guard mayAct(caller, on: job) else { throw policy.refusal(jobID: id, job.access, caller, credentials: credentials) }
        return job
    }

    private func mayAct(_ caller: AccessPolicy.Caller, on job: Job) -> Bool {
        policy.permits(caller, job.access, tokenMatches: !caller.token.isEmpty && job.accepts(token: caller.token))
    }

    /// The broken job `id`, if it is one and `caller` may act on it: anyone else learns nothing more.
    private func brokenJob(_ id: String, caller: AccessPolicy.Caller) throws -> BrokenJob? {
        guard let broken = brokenJobs[id] else { return nil }
        guard policy.permits(caller, broken.access, tokenMatches: TokenHash.matches(caller.token, digest: broken.access.tokenHash)) else {
            throw policy.refusal(jobID: id, broken.access, caller)
        }
        return broken
    }

    /// Registers a rank (creating the job on its first registration). Returns the job's state and, to a rank
    /// that proved its uid with MUNGE, the token the daemon made for the job (nil when the job's token is
    /// the ranks' own).
    private func registerJob(_ register: Autowu_V1_Register) throws -> (Autowu_V1_JobState, String?) {
        guard WireProtocol.isValidJobID(register.jobID) else {
            throw ProtocolError(.errorInvalidArgument, "job_id must be 1 to 128 characters from A-Z a-z 0-9 . _ - :, got \"\(register.jobID.prefix(140))\"")
        }
        let caller = try policy.caller(token: register.token, credential: register.mungeCredential, payload: register.jobID)
        if let broken = try brokenJob(register.jobID, caller: caller) { throw broken.error }
        let spec = try register.spec.normalized(jobID: register.jobID)
        if let existing = jobs[register.jobID] {
            let job = try job(register.jobID, caller: caller)
            // The owner's uid lets a rank in, but its own token would go with its losses, which would be dropped.
            if !caller.token.isEmpty, !job.access.tokenHash.isEmpty, !job.accepts(token: caller.token) {
                throw ProtocolError(.errorUnauthorized, "job \"\(register.jobID)\" has another token than the one this rank brings, so its losses and snapshots would be refused: give every rank the same AUTOWU_TOKEN, or, with MUNGE, none at all (the daemon then gives each rank the job's)")
            }
            guard existing.spec == spec else {
                throw ProtocolError(.errorConflict, "job \"\(register.jobID)\" is registered with other parameters")
            }
            try checkRank(register.rank, jobID: register.jobID, worldSize: spec.worldSize)
            return (job.state, mintedToken(of: job, for: caller))
        }
        try checkRank(register.rank, jobID: register.jobID, worldSize: spec.worldSize)
        let incarnation = UInt64.random(in: 1 ... UInt64.max)
        let (access, token) = try policy.accessForNewJob(register.jobID, caller: caller) {
            tokenMint.token(jobID: register.jobID, incarnation: incarnation)
        }
        guard jobs.count < configuration.maximumJobs else {
            throw ProtocolError(.errorTooLarge, "the daemon already carries \(jobs.count) jobs")
        }
        guard budget.allows(Job.fixedBytes) else {
            counters.add("register.over_budget")
            throw ProtocolError(.errorTooLarge, budget.refusal("a new job"))
        }
        if !storeHealth.mayWrite(), let message = storeHealth.message {
            throw ProtocolError(.errorInternal, message)
        }
        let parameters = try JobParameters(spec: spec, jobID: register.jobID)
        var controller: WarmupController
        do {
            controller = try WarmupController(configuration: parameters.configuration)
        } catch {
            throw ProtocolError(.errorInvalidArgument, "\(error)")
        }
        controller.concludeIfNoTestRemains()
        var state = JobStateBuilder.state(jobID: register.jobID, spec: spec, controller: controller, version: 1,
                                          stepsSeen: 0, lastVerdict: nil)
        state.incarnation = incarnation
        writer.waitUntilWritten()
        do {
            try store.save(StoredJob(jobID: register.jobID, spec: (try spec.serializedBytes() as [UInt8]), tokenHash: access.tokenHash,
                                     controller: try controller.persisted(), state: (try state.serializedBytes() as [UInt8]),
                                     version: 1, phase: controller.isWarmingUp ? "warmup" : "decay",
                                     updatedAt: Date().timeIntervalSince1970, ownerUID: access.ownerUID))
            storeWrote()
        } catch where StoreHealth.isStoreCondition(error) {
            storeFailed(error)
            throw ProtocolError(.errorInternal, storeHealth.message ?? "\(error)")
        } catch {
            logger.error("store write failed", metadata: ["job": "\(register.jobID)", "error": "\(error)"])
            throw ProtocolError(.errorInternal, "the store could not record the job: \(error)")
        }
        let job = Job(id: register.jobID, parameters: parameters, spec: spec, access: access,
                      controller: controller, state: state, target: testPool)
        jobs[register.jobID] = job
        account(job)
        logger.info("job registered", metadata: [
            "job": "\(register.jobID)", "steps_per_epoch": "\(spec.stepsPerEpoch)", "total_steps": "\(spec.totalSteps)",
            "world_size": "\(spec.worldSize)", "warmup_steps": "\(controller.warmup.warmupSteps)",
            // Says when the climb limit started a short warmup above eta_min.
            "ramp": "\(controller.warmup.minimumRate) to \(controller.warmup.maximumRate)",
            "access": "\(access.ownerUID.map { "owner uid \($0)" } ?? (access.tokenHash.isEmpty ? "anonymous" : "token"))"])
        warnIfTooShortToTest(job)
        publish(.eventPlan, job)
        return (job.state, caller.uid == nil ? nil : token)
    }

    /// A warmup with fewer than `patience` tests can end only at its limit or by rebound, where the decision
    /// rests on at most one test's estimate, or on the epoch medians (eta_max when no epoch is tested at all).
    /// Said at registration, so that the operator sees why such a job's LR is what it is (README, "When autowu
    /// cannot decide").
    private func warnIfTooShortToTest(_ job: Job) {
        let c = job.controller.configuration, tests = job.controller.testsWithEnoughLosses
        guard tests < c.patience else { return }
        logger.warning("the warmup is too short for the test to end it", metadata: [
            "job": "\(job.id)", "warmup_steps": "\(job.controller.warmup.warmupSteps)", "tests_possible": "\(tests)",
            "needed": "\(c.patience) tests in a row, each on at least \(job.controller.lossesPerTest) losses",
            "advice": "give the job more steps (total_steps), more warmup (rho_w), or a fixed schedule"])
    }

    /// The token the daemon made for `job`, for a caller proven by MUNGE; nil when the job's token is its ranks' own.
    private func mintedToken(of job: Job, for caller: AccessPolicy.Caller) -> String? {
        guard caller.uid != nil, !job.access.tokenHash.isEmpty else { return nil }
        let minted = tokenMint.token(jobID: job.id, incarnation: job.state.incarnation)
        return TokenHash.matches(minted, digest: job.access.tokenHash) ? minted : nil
    }

    /// Ranks are 0 ..< world_size: the losses of any other would be ignored and its waits never answered.
    private func checkRank(_ rank: UInt32, jobID: String, worldSize: UInt32) throws {
        guard rank < worldSize else {
            throw ProtocolError(.errorInvalidArgument, "rank \(rank) is not a rank of job \"\(jobID)\": its world_size is \(worldSize), so its ranks are 0 to \(worldSize - 1)")
        }
    }

    private func handleSnapshot(_ snapshot: Autowu_V1_Snapshot, peer: [UInt8], requestID: UInt64) throws {
        let caller = AccessPolicy.Caller(token: snapshot.token, uid: nil)
        if let broken = try brokenJob(snapshot.jobID, caller: caller) { throw broken.error }
        let job = try job(snapshot.jobID, caller: caller, credentials: false)
        try checkRank(snapshot.rank, jobID: job.id, worldSize: job.spec.worldSize)
        // Refused before anything is merged: a longer wait would outlast the client's request timeout.
        guard snapshot.waitMs <= WireProtocol.maximumWaitMilliseconds else {
            throw ProtocolError(.errorInvalidArgument, "wait_ms is at most \(WireProtocol.maximumWaitMilliseconds), got \(snapshot.waitMs): send the snapshot again after ERROR_TIMEOUT instead")
        }
        if snapshot.hasPending {
            var pending = snapshot.pending
            pending.rank = snapshot.rank
            switch merge(pending, into: job) {
            case nil: break
            case "over_budget"?:
                counters.add("control.over_budget")
                throw ProtocolError(.errorTooLarge, budget.refusal("the pending losses of rank \(snapshot.rank)"))
            case let problem?:
                throw ProtocolError(problem == "too_large" ? .errorTooLarge : .errorInvalidArgument, "the pending losses are \(problem.replacingOccurrences(of: "_", with: " "))")
            }
        }
        let epoch = Int(clamping: snapshot.needEpoch)
        if epoch < 0 || job.satisfies(epoch: epoch) {
            return try send(to: peer, .with { $0.requestID = requestID; $0.job = job.state })
        }
        if let failure = job.failure { throw ProtocolError(.errorInternal, failure) }
        guard budget.allows(Job.bytesPerWaiter) else {
            counters.add("control.over_budget")
            throw ProtocolError(.errorTooLarge, budget.refusal("waiting for epoch \(epoch)"))
        }
        let wait = Int(snapshot.waitMs)
        // Ask the rank for its losses only when some are still missing a moment later: most waits need none.
        let rank = Int(snapshot.rank)
        let check: DispatchTime? = snapshot.hasPending || job.aggregator.hasEverything(from: rank, through: epoch)
            ? nil : .now() + .milliseconds(Self.incompleteGraceMilliseconds)
        let deadline = DispatchTime.now() + .milliseconds(wait)
        let waiter = Job.Waiter(peer: peer, requestID: requestID, rank: rank, epoch: epoch,
                                deadline: deadline, incompleteCheck: check)
        job.waiters.append(waiter)
        // The older waiters' timers are armed already: only the new ones can be earlier (O(1) per snapshot).
        timers.add(job, due: waiter.firstDue)
        if job.aggregator.firstOpenEpoch <= epoch, job.closeDeadline == nil {
            let close = DispatchTime.now() + .milliseconds(configuration.closeTimeoutMilliseconds)
            job.closeDeadline = close
            timers.add(job, due: close)
        }
        account(job)
    }

    /// The jobs `status` asks for that its caller may read: a job's state is its owner's business.
    private func jobList(_ status: Autowu_V1_Status) throws -> Autowu_V1_JobList {
        let id = status.jobID
        let caller = try policy.caller(token: status.token, credential: status.mungeCredential, payload: id)
        var list = Autowu_V1_JobList()
        if id.isEmpty {
            list.jobs = jobs.keys.sorted().compactMap { jobs[$0].flatMap { mayAct(caller, on: $0) ? $0.state : nil } }
        } else {
            if let broken = try brokenJob(id, caller: caller) { throw broken.error }
            list.jobs = [try job(id, caller: caller).state]
        }
        list.daemon = daemonStatus
        return list
    }

    private func expireJob(_ expire: Autowu_V1_ExpireJob) throws -> Autowu_V1_JobList {
        var list = Autowu_V1_JobList()
        let caller = try policy.caller(token: expire.token, credential: expire.mungeCredential, payload: expire.jobID)
        if let broken = try brokenJob(expire.jobID, caller: caller) {
            do {
                writer.waitUntilWritten()
                try store.delete(jobID: broken.id)
            } catch {
                throw ProtocolError(.errorInternal, "the store could not delete broken job \"\(broken.id)\": \(error)")
            }
            brokenJobs[broken.id] = nil
            logger.notice("broken job removed", metadata: ["job": "\(broken.id)"])
            list.jobs = [.with { $0.jobID = broken.id; $0.phase = .expired }]
            list.daemon = daemonStatus
            return list
        }
        let job = try job(expire.jobID, caller: caller)
        list.jobs = [remove(job, reason: "expired on request")]
        list.daemon = daemonStatus
        return list
    }

    private var daemonStatus: Autowu_V1_DaemonStatus {
        var status = Autowu_V1_DaemonStatus()
        status.version = AutoWUVersion.string
        status.uptimeMs = UInt64(Date().timeIntervalSince(started) * 1000)
        status.counters = counters.values
        status.counters["jobs.live"] = UInt64(jobs.count)
        status.counters["jobs.broken"] = UInt64(brokenJobs.count)
        status.counters["tests.in_flight"] = UInt64(testsInFlight)
        status.counters["memory.jobs_bytes"] = UInt64(max(0, budget.usedBytes))
        if let limit = budget.limitBytes { status.counters["memory.budget_bytes"] = UInt64(limit) }
        status.counters["store.failing"] = storeHealth.isHealthy ? 0 : 1
        status.counters["store.unpersisted"] = UInt64(unpersisted.count + writer.inFlight)
        return status
    }

    // MARK: - tests

    private func markReady(_ job: Job) {
        if !job.closedEpochs.isEmpty, !job.testInFlight, readyJobSet.insert(job.id).inserted { readyJobs.append(job.id) }
    }

    private func dispatchTests() {
        while testsInFlight < configuration.testWorkers, readyHead < readyJobs.count {
            let id = readyJobs[readyHead]
            readyHead += 1
            if readyHead > 1024, readyHead * 2 > readyJobs.count {
                readyJobs.removeFirst(readyHead)
                readyHead = 0
            }
            readyJobSet.remove(id)
            guard let job = jobs[id], !job.testInFlight, !job.closedEpochs.isEmpty, job.isWarmingUp else { continue }
            let work = EpochTest.Work(
                jobID: job.id, spec: job.spec, access: job.access,
                controller: job.controller, epoch: job.closedEpochs.removeFirst(), solver: job.parameters.solver,
                version: job.state.version, incarnation: job.state.incarnation, stepsSeen: job.state.stepsSeen)
            job.testInFlight = true
            testsInFlight += 1
            let wakeup = self.wakeup
            job.queue.async { wakeup.post(EpochTest.run(work)) }
        }
    }

    /// A test is done: its core is free for the next one; its outcome waits for the next group commit.
    func testFinished(_ result: EpochTest.Result) {
        testsInFlight -= 1
        guard let job = jobs[result.jobID] else { return }  // expired meanwhile
        if let failure = result.failure {
            job.testInFlight = false
            counters.add("tests.failed")
            logger.error("test failed", metadata: ["job": "\(job.id)", "epoch": "\(result.epoch)", "error": "\(failure)"])
            // Never drop an epoch: try it once more, then tell the ranks that this job can decide no more.
            job.failedTestAttempts += 1
            if job.failedTestAttempts < Self.maximumTestAttempts {
                job.closedEpochs.insert(result.closed, at: 0)
                markReady(job)
            } else {
                job.failure = "the test of epoch \(result.epoch) failed \(job.failedTestAttempts) times (\(failure)); this job can make no more decisions: please report it with the daemon's log"
                for waiter in job.waiters {
                    try? reply(to: waiter.peer, requestID: waiter.requestID, error: ProtocolError(.errorInternal, job.failure!))
                }
                job.waiters = []
            }
            return
        }
        job.failedTestAttempts = 0
        counters.add("tests.run")
        metrics.testRun(micros: result.state.lastVerdict.testMicros)
        unpersisted.append(result)
    }

    /// Waits for every test started to finish and for its outcome to land in the store (or, while the store
    /// fails, to be kept for after the back-off).
    func settle() {
        for job in jobs.values { job.queue.sync {} }
        repeat {
            writer.waitUntilWritten()
            handleWakeup()
            commitTested()
        } while writer.isCommitting
    }

    /// Tests that finished and commits that landed, posted by other threads.
    private func handleWakeup() {
        let (tested, committed) = wakeup.drain()
        for result in tested { testFinished(result) }
        for outcome in committed { commitLanded(outcome) }
    }

    /// Hands every tested outcome gathered since the last commit to the writer, as one transaction (one
    /// fsync for all of them), unless a commit is in flight: they then wait for the next.
    ///
    /// While the store fails as a whole (full, read-only), the tested outcomes are kept as they are and
    /// written again after the back-off (`StoreHealth`): no busy loop, no test run twice, nothing lost.
    private func commitTested() {
        unpersisted.removeAll { !isCurrent($0) }  // expired (or expired and registered again) meanwhile
        guard !writer.isCommitting, !unpersisted.isEmpty, storeHealth.mayWrite() else { return }
        let batch = unpersisted
        unpersisted.removeAll()
        writer.commit(batch)
    }

    private func commitLanded(_ outcome: StoreWriter.Outcome) {
        writer.landed()
        metrics.storeCommitted(nanoseconds: outcome.nanoseconds)
        switch outcome.result {
        case .success(let errors):
            persisted(outcome.batch, errors: errors)
        case .failure(let error):
            // The transaction itself failed, so nothing landed: the store as a whole, whatever SQLite said.
            // What was tested meanwhile stays behind the batch, in the order it was tested.
            unpersisted = outcome.batch + unpersisted
            storeFailed(error)
        }
    }

    /// A tested outcome is for the job as it is now (not one expired meanwhile, nor an earlier incarnation).
    private func isCurrent(_ result: EpochTest.Result) -> Bool {
        jobs[result.jobID]?.state.incarnation == result.state.incarnation
    }

    private func persisted(_ results: [EpochTest.Result], errors: [(any Error)?]) {
        counters.add("store.commits")
        var storeFailure: (any Error)?
        for (result, error) in zip(results, errors) {
            if let error, StoreHealth.isStoreCondition(error) {
                storeFailure = error
                unpersisted.append(result)
                continue
            }
            guard isCurrent(result), let job = jobs[result.jobID] else { continue }
            job.testInFlight = false
            if let error {
                // Not durable, so not shown: the epoch is tested again from the same controller.
                counters.add("store.failed_saves")
                logger.error("store write failed; the epoch will be tested again", metadata: ["job": "\(job.id)", "error": "\(error)"])
                job.closedEpochs.insert(result.closed, at: 0)
                markReady(job)
                continue
            }
            complete(result, job: job)
        }
        if let storeFailure { storeFailed(storeFailure) } else { storeWrote() }
    }

    private func storeFailed(_ error: any Error) {
        counters.add("store.failed_writes")
        storeHealth.failed(error, logger: logger, unrecordedVerdicts: unpersisted.count)
    }

    private func storeWrote() {
        storeHealth.succeeded(logger: logger)
    }

    private func complete(_ result: EpochTest.Result, job: Job) {
        var state = result.state
        state.stepsSeen = max(state.stepsSeen, job.state.stepsSeen)
        var installed = result
        installed.state = state
        job.install(installed)
        let verdict = state.lastVerdict
        let sinceClose = Double(DispatchTime.now().uptimeNanoseconds - result.closed.closedAt) / 1e6
        logger.info("epoch tested", metadata: [
            "job": "\(job.id)", "epoch": "\(result.epoch)", "ms_since_close": "\(FixedDecimals.format(sinceClose, decimals: 2))",
            "p_min": "\(verdict.pMin.map { FixedDecimals.format($0, decimals: 3) }.joined(separator: ","))",
            "votes": "\(verdict.votes)", "streak": "\(verdict.streak)", "micros": "\(verdict.testMicros)",
            "missing_reports": "\(verdict.reportsMissing)", "silent_ranks": "\(verdict.silentRankCount)"])
        if verdict.silentRankCount > 0 {
            logger.warning("epoch closed without some ranks", metadata: [
                "job": "\(job.id)", "epoch": "\(result.epoch)", "silent_ranks": "\(verdict.silentRankCount)",
                "first": "\(verdict.silentRanks.map(String.init).joined(separator: ","))"])
        }
        if state.hasDecision {
            logger.notice("warmup ended", metadata: [
                "job": "\(job.id)", "reason": "\(state.decision.reason)", "switch_step": "\(state.decision.step)",
                "learning_rate": "\(state.decision.learningRate)"])
        }
        publish(state.hasDecision ? .eventPhaseSwitch : .eventTestResult, job)
        metrics.verdictPublished(closedAt: result.closed.closedAt)
        answerWaiters(of: job)
        account(job)
        markReady(job)
    }

    // MARK: - replies and events

    private func answerWaiters(of job: Job) {
        var waiting: [Job.Waiter] = []
        var shared: SharedReply?
        for waiter in job.waiters {
            if job.satisfies(epoch: waiter.epoch) {
                if shared == nil { shared = try? SharedReply(.with { $0.job = job.state }) }
                if let shared { send(to: waiter.peer, shared.bytes(requestID: waiter.requestID)) }
            } else {
                waiting.append(waiter)
            }
        }
        job.waiters = waiting
    }

    private func expireDeadlines() {
        let now = DispatchTime.now()
        for job in timers.popDue(now: now, jobs: jobs) {
            visitTimers(of: job, now: now)
            if let next = job.nextTimerDue { timers.add(job, due: next) }
        }
        let wallNow = Date()
        if wallNow >= nextExpiryCheck {
            nextExpiryCheck = wallNow.addingTimeInterval(min(10, configuration.retentionSeconds / 4))
            for job in jobs.values where wallNow.timeIntervalSince(job.lastActivity) > configuration.retentionSeconds {
                _ = remove(job, reason: "idle longer than the retention")
            }
        }
    }

    /// A job's timers that are due: its close deadline, its waiters' incomplete checks and deadlines.
    private func visitTimers(of job: Job, now: DispatchTime) {
        if let deadline = job.closeDeadline, deadline <= now {
            job.closeDeadline = nil
            counters.add("epochs.closed_incomplete")
            job.closeReadyEpochs(force: true)
            account(job)
            markReady(job)
            if job.waiters.contains(where: { $0.epoch >= job.aggregator.firstOpenEpoch }) {
                let close = now + .milliseconds(configuration.closeTimeoutMilliseconds)
                job.closeDeadline = close
            }
        }
        guard job.waiters.contains(where: { $0.deadline <= now || ($0.incompleteCheck ?? .distantFuture) <= now }) else { return }
        var waiting: [Job.Waiter] = []
        var timeout: (epoch: Int, reply: SharedReply)?
        for var waiter in job.waiters {
            if let check = waiter.incompleteCheck, check <= now {
                waiter.incompleteCheck = nil
                if !job.aggregator.hasEverything(from: waiter.rank, through: waiter.epoch) {
                    counters.add("control.incomplete")
                    var error = ProtocolError(.errorIncomplete, "some losses of rank \(waiter.rank) up to epoch \(waiter.epoch) are missing: send them as pending").wire
                    error.job = job.state
                    try? send(to: waiter.peer, .with { $0.requestID = waiter.requestID; $0.error = error })
                    continue
                }
            }
            if waiter.deadline <= now {
                // While the store fails, that is why: ranks are told (and retry, ERROR_INTERNAL), not left guessing.
                // The epoch is in the text: one shared reply serves the waiters of the same epoch.
                if timeout == nil || timeout?.epoch != waiter.epoch {
                    var error = storeHealth.message.map { ProtocolError(.errorInternal, "epoch \(waiter.epoch) is not decided yet: \($0)") }?.wire
                        ?? ProtocolError(.errorTimeout, "epoch \(waiter.epoch) is not decided yet").wire
                    error.job = job.state
                    timeout = (try? SharedReply(.with { $0.error = error })).map { (waiter.epoch, $0) }
                }
                if let timeout { send(to: waiter.peer, timeout.reply.bytes(requestID: waiter.requestID)) }
            } else {
                waiting.append(waiter)
            }
        }
        job.waiters = waiting
        account(job)
    }

    func remove(_ job: Job, reason: String) -> Autowu_V1_JobState {
        do {
            writer.waitUntilWritten()
            try store.delete(jobID: job.id)
        } catch where StoreHealth.isStoreCondition(error) {
            storeFailed(error)
        } catch {
            logger.error("store delete failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
        jobs[job.id] = nil
        budget.release(job.id)
        let state = job.markExpired()
        for waiter in job.waiters {
            try? reply(to: waiter.peer, requestID: waiter.requestID, error: ProtocolError(.errorUnknownJob, "job \"\(job.id)\" was removed"))
        }
        logger.info("job removed", metadata: ["job": "\(job.id)", "reason": "\(reason)"])
        publish(.eventJobExpired, job, state: state)
        return state
    }

    /// Events are readable by anyone who can connect: those of a job with a token or an owner are notices
    /// (id, version, incarnation), and its ranks fetch the state itself with their token.
    private func publish(_ kind: Autowu_V1_EventKind, _ job: Job, state: Autowu_V1_JobState? = nil) {
        let state = state ?? job.state
        let event = Autowu_V1_Event.with {
            $0.protocolVersion = WireProtocol.version
            if job.access.isAnonymous {
                $0.kind = kind
                $0.job = state
            } else {
                $0.kind = .eventNotice
                $0.job = .with { $0.jobID = state.jobID; $0.version = state.version; $0.incarnation = state.incarnation }
            }
        }
        guard let bytes = try? event.serializedBytes() as [UInt8],
              (try? events.sendMultipart([WireProtocol.eventsTopic(jobID: state.jobID), bytes], dontWait: true)) == true else {
            return counters.add("events.dropped")
        }
        counters.add("events.published")
    }

    private func reply(to peer: [UInt8], requestID: UInt64, error: ProtocolError) throws {
        counters.add("control.error.\(error.code)")
        try send(to: peer, .with { $0.requestID = requestID; $0.error = error.wire })
    }

    private func send(to peer: [UInt8], _ reply: Autowu_V1_Reply) throws {
        var reply = reply
        reply.protocolVersion = WireProtocol.version
        send(to: peer, try reply.serializedBytes())
    }

    private func send(to peer: [UInt8], _ bytes: [UInt8]) {
        // A peer that has gone away is not an error of ours: the ROUTER drops the reply.
        _ = try? control.sendMultipart([peer, [], bytes], dontWait: true)
    }
}
