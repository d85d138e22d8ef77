import AutoWU
import AutoWUProtocol
import Foundation

/// One registered job as the daemon's I/O thread holds it. Only the I/O thread touches a `Job`; a test
/// works on a copy of the controller and hands the result back (see `EpochTest`).
final class Job: TimedJob {
    let id: String
    let parameters: JobParameters
    /// The normalised wire spec: a re-registration must match it.
    let spec: Autowu_V1_JobSpec
    let access: JobAccess
    /// The controller after the last completed test.
    private(set) var controller: WarmupController
    private(set) var state: Autowu_V1_JobState
    var aggregator: LossAggregator
    /// Closed epochs waiting for their test, oldest first.
    var closedEpochs: [ClosedEpoch] = []
    var testInFlight = false
    /// Failed attempts of the oldest closed epoch's test; after `maximumTestAttempts` the job is failed.
    var failedTestAttempts = 0
    /// Why the job can make no more decisions (its test failed for good); its ranks get this as an error.
    var failure: String?
    /// Snapshot requests waiting for a verdict.
    var waiters: [Waiter] = []
    /// When the first open epoch must be closed even if incomplete (a snapshot is waiting for it).
    var closeDeadline: DispatchTime?
    /// The earliest timer queued for this job in `JobTimers`, until it is visited.
    var timerDue: DispatchTime?
    var lastActivity: Date
    /// The job's own serial queue: its tests run in order, one at a time.
    let queue: DispatchQueue

    /// When the job's next timer falls due: its close deadline or a waiter's deadline or incomplete check.
    var nextTimerDue: DispatchTime? {
        var next = closeDeadline
        for waiter in waiters {
            next = next.map { min($0, waiter.firstDue) } ?? waiter.firstDue
        }
        return next
    }

    struct ClosedEpoch: Sendable {
        var epoch: Int
        var losses: [Double]
        var missing: Int
        var silent: LossAggregator.SilentRanks
        /// When the epoch closed (uptime ns): the start of its verdict's latency.
        var closedAt: UInt64 = DispatchTime.now().uptimeNanoseconds
    }

    struct Waiter {
        var peer: [UInt8]
        var requestID: UInt64
        var rank: Int
        var epoch: Int
        var deadline: DispatchTime
        /// When to tell the rank that some of its own losses are missing (ERROR_INCOMPLETE), if they still
        /// are then: reports sent just before the snapshot may still be on their way over the ingest socket.
        var incompleteCheck: DispatchTime?

        /// The earlier of its check and its deadline (a wait_ms below the check's grace ends at wait_ms).
        var firstDue: DispatchTime { incompleteCheck.map { min($0, deadline) } ?? deadline }
    }

    init(id: String, parameters: JobParameters, spec: Autowu_V1_JobSpec, access: JobAccess,
         controller: WarmupController, state: Autowu_V1_JobState, target: DispatchQueue) {
        self.id = id
        self.parameters = parameters
        self.spec = spec
        self.access = access
        self.controller = controller
        self.state = state
        self.aggregator = LossAggregator(
            stepsPerEpoch: parameters.configuration.stepsPerEpoch,
            ranks: parameters.reporting == .rankZero ? 1 : parameters.worldSize,
            decisionDelaySteps: parameters.configuration.decisionDelaySteps,
            firstOpenEpoch: controller.epochsCompleted)
        self.lastActivity = Date()
        self.queue = DispatchQueue(label: "autowu.job.\(id)", target: target)
    }

    var isWarmingUp: Bool { controller.isWarmingUp }

    /// The last token that matched: every message of a job carries it, and hashing it each time would be the
    /// most expensive step of ingest. Compared in constant time like the digest.
    private var verifiedToken: [UInt8]?

    func accepts(token: String) -> Bool {
        let bytes = Array(token.utf8)
        if let verifiedToken, TokenHash.constantTimeEqual(bytes, verifiedToken) { return true }
        guard TokenHash.matches(token, digest: access.tokenHash) else { return false }
        verifiedToken = bytes
        return true
    }
    var decidedThroughEpoch: Int { controller.epochsCompleted - 1 }

    /// The latest epoch a snapshot can usefully wait for: later ones are never tested.
    var lastTestedEpoch: Int { controller.lastTestedEpoch }

    /// Whether a snapshot waiting for `epoch` can be answered now.
    func satisfies(epoch: Int) -> Bool {
        !isWarmingUp || epoch <= decidedThroughEpoch || epoch > lastTestedEpoch
    }

    /// Moves complete epochs (or, with `force`, the first open one) to the test queue, in order.
    func closeReadyEpochs(force: Bool = false) {
        guard isWarmingUp else { return }
        var forced = force
        while aggregator.firstOpenEpoch <= lastTestedEpoch, aggregator.isFirstOpenEpochComplete || forced {
            let epoch = aggregator.firstOpenEpoch
            let (losses, missing, silent) = aggregator.closeFirstOpenEpoch()
            closedEpochs.append(ClosedEpoch(epoch: epoch, losses: losses, missing: missing, silent: silent))
            forced = false
            closeDeadline = nil
        }
    }

    /// Installs a finished test's controller and state (in epoch order; the I/O thread runs one at a time).
    func install(_ result: EpochTest.Result) {
        controller = result.controller
        state = result.state
        if !controller.isWarmingUp {
            closedEpochs.removeAll()
            closeDeadline = nil
            // No epoch is tested any more: the reports of the open ones are let go.
            aggregator = LossAggregator(stepsPerEpoch: aggregator.stepsPerEpoch, ranks: aggregator.ranks,
                                        decisionDelaySteps: parameters.configuration.decisionDelaySteps,
                                        firstOpenEpoch: controller.epochsCompleted)
        }
    }

    func markExpired() -> Autowu_V1_JobState {
        state.version += 1
        state.phase = .expired
        return state
    }

    /// Records that steps up to `step` were reported; `steps_seen` never passes `total_steps`.
    func noteSteps(upTo step: Int) {
        let seen = UInt64(min(step + 1, parameters.configuration.totalSteps))
        if seen > state.stepsSeen { state.stepsSeen = seen }
        lastActivity = Date()
    }

    // MARK: - memory

    /// A job's fixed cost: the object, its spec, state and plan, its queue, its controller's fitted state
    /// (3.1 KB of resident memory per job, measured with 2,000 idle jobs; counted generously).
    static let fixedBytes = 16 * 1024
    static let bytesPerWaiter = MemoryLayout<Waiter>.stride + 64

    /// What this job holds, in bytes: its fixed cost, its open epochs' reports, closed epochs waiting for
    /// their test, the loss history its controller keeps, and its waiting requests. Grows with the data
    /// received, never with the declared sizes alone.
    var memoryBytes: Int {
        Self.fixedBytes + aggregator.bytes
            + closedEpochs.reduce(0) { $0 + $1.losses.capacity * MemoryLayout<Double>.stride }
            + controller.losses.count * MemoryLayout<Double>.stride
            + waiters.count * Self.bytesPerWaiter
    }
}

/// Builds the wire state of a job from its controller: the single place that turns the core's view into
/// what ranks see.
enum JobStateBuilder {
    static func state(jobID: String, spec: Autowu_V1_JobSpec, controller: WarmupController, version: UInt64,
                      stepsSeen: UInt64, lastVerdict: Autowu_V1_Verdict?) -> Autowu_V1_JobState {
        let c = controller.configuration
        let plan = RankPlan(schedule: controller.plan, stepsPerEpoch: c.stepsPerEpoch,
                            decisionDelaySteps: c.decisionDelaySteps, warmupSteps: controller.warmup.warmupSteps,
                            decidedThroughEpoch: controller.epochsCompleted - 1, isFinal: !controller.isWarmingUp)
        return .with {
            $0.jobID = jobID
            $0.version = version
            $0.spec = spec
            $0.plan = plan.wire
            $0.phase = controller.isWarmingUp ? .warmup : .decay
            if let lastVerdict { $0.lastVerdict = lastVerdict }
            if let decision = controller.decision { $0.decision = decision.wire }
            $0.stepsSeen = stepsSeen
        }
    }
}
