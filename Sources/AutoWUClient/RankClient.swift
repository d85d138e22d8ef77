import AutoWU
import AutoWUProtocol
import Dispatch
import Foundation
import Munge
import SwiftProtobuf
import ZeroMQ

/// One training rank's side of the protocol (protocol/SPEC.md, section 8): join, snapshot, then for every
/// step take the LR from the plan, waiting at a gate when the plan might still change, and report losses.
///
/// Not thread-safe: a rank drives it from its training loop. Sockets are created on, and used from, the
/// calling thread only.
public final class RankClient {
    public struct Options: Sendable {
        public var endpoints: DaemonEndpoints
        public var jobID: String
        public var token: String
        public var rank: Int
        public var spec: Autowu_V1_JobSpec
        /// Losses per ingest message; a batch is always sent at the end of an epoch.
        public var batchSize = 32
        /// One Lazy Pirate attempt.
        public var requestTimeoutMilliseconds = 1_500
        /// How long the daemon may hold a waiting snapshot (at most 10 s); an attempt at a waiting snapshot
        /// waits `waitMilliseconds + requestTimeoutMilliseconds` for its reply (SPEC section 8).
        public var waitMilliseconds: UInt32 = 1_000
        /// The most a rank waits, in all, for a decision or for the daemon, before it gives up (never guesses).
        public var waitBoundSeconds = 120.0
        /// Register with a MUNGE credential (the job then belongs to this process's uid; without a token the
        /// daemon makes one); `mungeSocket`: munged's socket, nil for libmunge's default.
        public var useMunge = false
        public var mungeSocket: String?

        public init(endpoints: DaemonEndpoints, jobID: String, token: String = "", rank: Int, spec: Autowu_V1_JobSpec) {
            self.endpoints = endpoints
            self.jobID = jobID
            self.token = token
            self.rank = rank
            self.spec = spec
        }
    }

    public let options: Options
    public private(set) var state: Autowu_V1_JobState
    public private(set) var plan: RankPlan
    /// Time spent blocked at gates, and how many times.
    public private(set) var waitedNanoseconds: UInt64 = 0
    public private(set) var waits = 0
    /// Called the first time this rank holds the verdict of an epoch (for latency figures).
    public var onVerdict: ((_ epoch: Int) -> Void)?

    private let context: ZMQContext
    private let events: ZMQSocket
    private let ingest: ZMQSocket
    private let control: ControlChannel
    private let ingestTopic: [UInt8]
    /// `options.token`, or the one the daemon made for a job registered with MUNGE.
    public private(set) var token: String
    private var unsentFirstStep = 0
    private var unsent: [Double] = []
    /// Losses of the epochs not yet decided, from `keptFirstStep` on: they may have to be sent again.
    private var keptFirstStep = 0
    private var kept: [Double] = []

    /// JOIN and SNAPSHOT: subscribe first, then register (idempotent) and keep the returned state.
    public init(options: Options, context: ZMQContext? = nil) throws {
        guard WireProtocol.isValidJobID(options.jobID) else { throw ClientError.invalidArgument("invalid job id \(options.jobID)") }
        guard options.batchSize >= 1, options.rank >= 0 else { throw ClientError.invalidArgument("batch size and rank must be positive") }
        guard (1...WireProtocol.maximumWaitMilliseconds).contains(options.waitMilliseconds) else {
            throw ClientError.invalidArgument("waitMilliseconds must lie in 1...\(WireProtocol.maximumWaitMilliseconds)")
        }
        self.options = options
        self.token = options.token
        self.context = try context ?? ZMQContext()
        let keys = options.endpoints.serverKey == nil ? nil : try CurveKeyPair.generate()
        func secure(_ socket: ZMQSocket) throws {
            try socket.set(.linger, 0)
            if let serverKey = options.endpoints.serverKey, let keys {
                try socket.set(.curveServerKey, serverKey)
                try socket.set(.curvePublicKey, keys.publicKey)
                try socket.set(.curveSecretKey, keys.secretKey)
            }
        }
        events = try self.context.socket(.sub)
        try secure(events)
        try events.set(.rcvhwm, 10_000)
        try events.subscribe(to: WireProtocol.eventsTopic(jobID: options.jobID))
        try events.connect(options.endpoints.events)
        ingest = try self.context.socket(.pub)
        try secure(ingest)
        try ingest.set(.sndhwm, 1_000_000)
        try ingest.set(.linger, 2_000)  // let the last batches leave on close
        try ingest.connect(options.endpoints.ingest)
        ingestTopic = WireProtocol.ingestTopic(jobID: options.jobID)
        control = try ControlChannel(context: self.context, endpoint: options.endpoints.control,
                                     serverKey: options.endpoints.serverKey,
                                     attemptTimeoutMilliseconds: options.requestTimeoutMilliseconds)
        state = Autowu_V1_JobState()
        plan = RankPlan(schedule: try LearningRatePlan(pieces: [.init(startStep: 0, segment: .constant(rate: 0))]),
                        stepsPerEpoch: 1, decisionDelaySteps: 0, warmupSteps: 0, decidedThroughEpoch: -1, isFinal: false)
        try install(try register(deadline: .now() + .seconds(Int(options.waitBoundSeconds))))
        keptFirstStep = (plan.decidedThroughEpoch + 1) * plan.stepsPerEpoch
    }

    public func close() {
        try? flush()
        control.close()
        events.close()
        ingest.close()
    }

    public var stepsPerEpoch: Int { plan.stepsPerEpoch }
    public var controlReconnects: Int { control.reconnects }

    // MARK: - RUN

    /// The LR of `step`: from the plan when its gate allows, else after waiting for the verdict (WAIT).
    public func learningRate(at step: Int) throws -> Double {
        try applyEvents()
        if let rate = plan.learningRate(at: step) { return rate }
        return try waitForGate(step: step)
    }

    /// Records the loss of `step` and sends the batch when it is full or the epoch ends.
    public func report(step: Int, loss: Double) throws {
        if step != unsentFirstStep + unsent.count {
            try flush()
            unsentFirstStep = step
        }
        unsent.append(loss)
        if !plan.isFinal, step >= keptFirstStep {
            if step >= keptFirstStep + kept.count {
                kept += Array(repeating: .nan, count: step - keptFirstStep - kept.count + 1)
            }
            kept[step - keptFirstStep] = loss
        }
        if unsent.count >= options.batchSize || (step + 1) % plan.stepsPerEpoch == 0 { try flush() }
    }

    /// Sends the unsent losses now.
    public func flush() throws {
        guard !unsent.isEmpty else { return }
        let batch = lossBatch(firstStep: unsentFirstStep, losses: unsent)
        unsentFirstStep += unsent.count
        unsent.removeAll(keepingCapacity: true)
        // A PUB never blocks; what it drops at its high-water mark is sent again at the gate.
        try ingest.sendMultipart([ingestTopic, try batch.serializedBytes()])
    }

    private func lossBatch(firstStep: Int, losses: [Double]) -> Autowu_V1_LossBatch {
        .with {
            $0.protocolVersion = WireProtocol.version
            $0.jobID = options.jobID
            $0.token = token
            $0.rank = UInt32(options.rank)
            $0.firstStep = UInt64(firstStep)
            $0.losses = losses
        }
    }

    /// Waits up to `timeoutMilliseconds` for plan updates and applies them (for a loop with idle time).
    public func pollEvents(timeoutMilliseconds: Int) throws {
        var poller = ZMQPoller()
        poller.register(events)
        if try poller.poll(timeoutMilliseconds: timeoutMilliseconds).isReadable(events) { try applyEvents() }
    }

    // MARK: - state

    /// Applies every queued event newer than the state held (Clone pattern).
    private func applyEvents() throws {
        while let frames = try events.receiveMultipart(dontWait: true) {
            guard frames.count == 2, let event = try? Autowu_V1_Event(serializedBytes: frames[1]),
                  event.protocolVersion == WireProtocol.version, event.job.jobID == options.jobID else { continue }
            if event.kind == .eventJobExpired { continue }
            if event.kind == .eventNotice {
                // The job's state is not in the event (it has a token): fetch it if it is news.
                if event.job.version > state.version || event.job.incarnation != state.incarnation { try fetchState() }
                continue
            }
            if event.job.version > state.version { try install(event.job) }
        }
    }

    /// The job's state now (Snapshot, need_epoch = -1), installed if newer.
    private func fetchState() throws {
        let reply = try control.request(.snapshot(.with {
            $0.jobID = options.jobID
            $0.token = token
            $0.rank = UInt32(options.rank)
            $0.needEpoch = -1
        }), deadline: .now() + .milliseconds(Int(options.waitBoundSeconds * 1000)))
        switch reply.body {
        case .job(let job)?: try install(job)
        case .error(let error)? where error.code == .errorUnknownJob: return  // the next gate says what to do
        case .error(let error)?: throw ClientError.refused(code: error.code, message: error.message)
        default: throw ClientError.protocolViolation("unexpected reply to a snapshot")
        }
    }

    private func install(_ newState: Autowu_V1_JobState) throws {
        // Another incarnation is another job under this id: take it whatever its version.
        let sameJob = newState.incarnation == state.incarnation
        guard !sameJob || newState.version > state.version else { return }
        let newPlan: RankPlan
        do {
            newPlan = try RankPlan(wire: newState.plan)
        } catch {
            throw ClientError.protocolViolation("the daemon sent an unusable plan: \(error)")
        }
        let previous = plan.decidedThroughEpoch
        state = newState
        plan = newPlan
        if let onVerdict, newPlan.decidedThroughEpoch > previous {
            for epoch in (previous + 1)...newPlan.decidedThroughEpoch { onVerdict(epoch) }
        }
        // Losses of decided epochs will never be asked for again.
        let decidedSteps = newPlan.isFinal ? Int.max : (newPlan.decidedThroughEpoch + 1) * newPlan.stepsPerEpoch
        if decidedSteps > keptFirstStep {
            let drop = min(kept.count, decidedSteps - keptFirstStep)
            kept.removeFirst(drop)
            keptFirstStep = newPlan.isFinal ? keptFirstStep + drop : decidedSteps
        }
    }

    // MARK: - WAIT

    private func waitForGate(step: Int) throws -> Double {
        let started = DispatchTime.now()
        let deadline = started + .milliseconds(Int(options.waitBoundSeconds * 1000))
        waits += 1
        defer { waitedNanoseconds += DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds }
        try flush()
        // Losses are resent only when the daemon says it lacks some (ERROR_INCOMPLETE).
        var sendPending = false
        var internalDelayMilliseconds = 0
        while true {
            let epoch = plan.requiredEpoch(forStep: step)
            let pendingFrom = max(keptFirstStep, (epoch) * plan.stepsPerEpoch)
            var pendingLosses: [Double] = []
            if sendPending, pendingFrom < keptFirstStep + kept.count, pendingFrom < step {
                pendingLosses = Array(kept[(pendingFrom - keptFirstStep) ..< min(kept.count, step - keptFirstStep)])
            }
            let snapshot = Autowu_V1_Snapshot.with {
                $0.jobID = options.jobID
                $0.token = token
                $0.rank = UInt32(options.rank)
                $0.needEpoch = Int64(epoch)
                $0.waitMs = options.waitMilliseconds
                if !pendingLosses.isEmpty { $0.pending = lossBatch(firstStep: pendingFrom, losses: pendingLosses) }
            }
            let reply = try control.request(
                .snapshot(snapshot),
                attemptTimeoutMilliseconds: options.requestTimeoutMilliseconds + Int(options.waitMilliseconds),
                deadline: deadline)
            sendPending = false
            switch reply.body {
            case .job(let job)?:
                try install(job)
            case .error(let error)? where error.code == .errorTimeout:
                try install(error.job)
            case .error(let error)? where error.code == .errorIncomplete:
                try install(error.job)
                sendPending = true
            case .error(let error)? where error.code == .errorUnknownJob:
                // The daemon expired or lost the job. A new registration can only go on if it needs no
                // history the ranks no longer hold (they keep the undecided epochs only): before epoch 0.
                guard epoch <= 0 else {
                    throw ClientError.refused(code: .errorUnknownJob, message: "the daemon lost job \(options.jobID) and its loss history before epoch \(epoch): the warmup cannot go on consistently")
                }
                try install(try register(deadline: deadline))
            case .error(let error)? where error.code == .errorInternal:
                // The daemon cannot go on now (its store is full, say): retry with back-off (SPEC section 8).
                try backOff(&internalDelayMilliseconds, until: deadline, error: error)
            case .error(let error)?:
                throw ClientError.refused(code: error.code, message: error.message)
            default:
                throw ClientError.protocolViolation("unexpected reply to a snapshot")
            }
            try applyEvents()
            if let rate = plan.learningRate(at: step) { return rate }
            guard DispatchTime.now() < deadline else {
                throw ClientError.daemonUnreachable("no verdict for epoch \(epoch) within \(options.waitBoundSeconds) s")
            }
        }
    }

    private func register(deadline: DispatchTime) throws -> Autowu_V1_JobState {
        var delayMilliseconds = 0
        while true {
            let reply = try control.request(making: {
                let credential = try options.useMunge ? Munge.encode(payload: options.jobID, socket: options.mungeSocket) : ""
                return .register(.with {
                    $0.jobID = options.jobID
                    $0.token = token
                    $0.rank = UInt32(options.rank)
                    $0.spec = options.spec
                    $0.mungeCredential = credential
                })
            }, deadline: deadline)
            switch reply.body {
            case .job(let job)?:
                if token.isEmpty, !reply.jobToken.isEmpty { token = reply.jobToken }
                return job
            case .error(let error)? where error.code == .errorInternal:
                try backOff(&delayMilliseconds, until: deadline, error: error)
            case .error(let error)?: throw ClientError.refused(code: error.code, message: error.message)
            default: throw ClientError.protocolViolation("unexpected reply to a registration")
            }
        }
    }

    /// Sleeps before retrying after ERROR_INTERNAL: 50 ms, doubling to 1 s; past `deadline` it raises the
    /// daemon's message instead.
    private func backOff(_ delayMilliseconds: inout Int, until deadline: DispatchTime, error: Autowu_V1_Error) throws {
        delayMilliseconds = min(max(50, delayMilliseconds * 2), 1_000)
        guard DispatchTime.now() + .milliseconds(delayMilliseconds) < deadline else {
            throw ClientError.refused(code: error.code, message: error.message)
        }
        usleep(UInt32(delayMilliseconds) * 1_000)
    }

    /// A control request outside the rank's loop (status, ping), with the same Lazy Pirate retries.
    public func request(_ body: Autowu_V1_Request.OneOf_Body, timeoutSeconds: Double = 5) throws -> Autowu_V1_Reply {
        try control.request(body, deadline: .now() + .milliseconds(Int(timeoutSeconds * 1000)))
    }
}
