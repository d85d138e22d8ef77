/// Everything that determines a job's AutoWU decisions: the run's shape, the paper's hyper-parameters
/// (defaults as in the paper), the test's settings and the subsampling seed.
public struct AutoWUConfiguration: Sendable, Equatable, Codable {
    /// Steps per epoch: the test runs after every `stepsPerEpoch` losses.
    public var stepsPerEpoch: Int
    /// T, the total number of training steps.
    public var totalSteps: Int
    public var decay: DecaySchedule = .cosine
    public var warmupShape: WarmupSchedule.Shape = .exponential
    /// eta_min, eta_max, rho_w.
    public var minimumRate = 1e-5
    public var maximumRate = 1.0
    public var warmupFraction = 0.5
    /// p: consecutive positive tests needed to switch.
    public var patience = 3
    /// An epoch whose median loss (NaN/inf counting as +inf) exceeds this many times the magnitude of the
    /// first epoch's median has diverged (see `DivergenceRule`).
    public var divergenceFactor = 100.0
    public var test = MinimumTestSettings()
    /// Steps between the end of an epoch and the step its verdict takes effect at. 0 is Algorithm 1 (the
    /// decay starts right after the epoch's last step); the daemon uses >= 1 so that its ranks keep
    /// training while the test runs and the verdict travels (see protocol/SPEC.md, gates).
    public var decisionDelaySteps = 0
    /// Seeds the subset generator; the daemon derives it from the job id.
    public var seed: UInt64 = 0

    public init(stepsPerEpoch: Int, totalSteps: Int) {
        self.stepsPerEpoch = stepsPerEpoch
        self.totalSteps = totalSteps
    }

    /// The warmup schedule these parameters describe; throws with a message naming the bad parameter.
    public func warmupSchedule() throws -> WarmupSchedule {
        try WarmupSchedule(shape: warmupShape, minimumRate: minimumRate, maximumRate: maximumRate,
                           warmupFraction: warmupFraction, totalSteps: totalSteps)
    }

    public func validate() throws {
        try require(stepsPerEpoch >= 1, "steps per epoch must be at least 1, got \(stepsPerEpoch)")
        _ = try warmupSchedule()
        try require(decisionDelaySteps >= 0, "the decision delay cannot be negative, got \(decisionDelaySteps)")
        try require(patience >= 1, "the patience p must be at least 1, got \(patience)")
        try require(divergenceFactor > 1, "the divergence factor must exceed 1 (use infinity to disable the explosion rule), got \(divergenceFactor)")
        try decay.validate()
        try test.validate()
    }
}
