import Foundation

/// What the warmup does between the first positive test and the switch (docs/decisions.md).
public enum WarmupPolicy: String, Sendable, Equatable, Codable, CaseIterable {
    /// The ramp holds its LR from the gate of a positive test while the streak is being confirmed, and
    /// resumes where it stopped after a negative test: confirming the minimum costs no overshoot. Two
    /// positive tests switch; a loss that climbs back half of the way it came down ends the warmup at once
    /// (`rebound`, decaying from half the LR at t*); and a warmup that reaches floor(rho_w * T) decays from the LR at the last test's
    /// estimate of the minimum rather than from the LR reached.
    case hold
    /// Algorithm 1: the ramp goes on growing until the switch.
    case paper
}

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
    public var policy: WarmupPolicy = .hold
    /// p: consecutive positive tests needed to switch (the paper: 3; the hold policy: 2).
    public var patience = 2
    /// An epoch whose median loss (NaN/inf counting as +inf) exceeds this many times the magnitude of the
    /// first epoch's median has diverged (see `DivergenceRule`).
    public var divergenceFactor = 100.0
    /// The hold policy's flat pace (the paper's policy ignores it): while the loss has not yet come down from its first epoch by
    /// `progressDeviations` noise deviations, the ramp runs this many times faster (1: the paper's pace);
    /// once it has, the rest of the ramp is spread over the rest of the warmup. Time saved where the LR is
    /// too small to matter is spent where the minimum is (docs/decisions.md, "The flat pace").
    public var flatPace = 1.0
    /// The hold policy's lag correction (the paper's policy ignores it): the decay starts from the warmup
    /// path's LR this many steps before t*. The loss answers an LR late: momentum averages the last
    /// ~1/(1-beta) steps' gradients, so the minimum seen at t* belongs to an earlier LR, and on a fast ramp
    /// the LR at t* itself is already past the stable one (docs/decisions.md, "The lag correction").
    public var lagSteps = 0.0
    /// The hold policy's climb limit (the paper's policy and the linear ramp ignore it): the exponential ramp
    /// climbs at most one decade of LR per this many steps (0: no limit). A warmup too short to climb from
    /// eta_min to eta_max at that pace starts higher, at eta_max * 10^(-W / stepsPerDecade), and still ends at
    /// eta_max at W = floor(rho_w * T). The loss answers an LR late (momentum averages ~10 steps), so a ramp
    /// faster than that is past the stable LR before any test can see the minimum (docs/decisions.md,
    /// "The climb limit").
    public var stepsPerDecade = AutoWUConfiguration.defaultStepsPerDecade
    public static let defaultStepsPerDecade = 40.0
    /// The hold policy's back-off after a rebound (the paper's policy has no rebound): the decay starts from
    /// this fraction of the LR at t*. A loss that blew up and climbed back half of its way shows that the LRs
    /// just past t* are unstable and leaves the model disturbed, so the decay starts with a margin below that
    /// edge (docs/decisions.md, "The rebound's back-off"). Not a wire parameter.
    public var reboundBackoff = AutoWUConfiguration.defaultReboundBackoff
    public static let defaultReboundBackoff = 0.5
    /// How far (in robust noise deviations of the losses) the epoch median must have come down from the first
    /// epoch's for the loss to count as moving.
    public static let progressDeviations = 3.0
    public var test = MinimumTestSettings()
    /// Steps between the end of an epoch and the step its verdict takes effect at. 0 is Algorithm 1 (the
    /// decay starts right after the epoch's last step); the daemon uses >= 1 so that its ranks keep
    /// training while the test runs and the verdict travels (see protocol/SPEC.md, gates).
    public var decisionDelaySteps = 0
    /// Seeds the subset generator: a job parameter (0 unless the user sets one), never the job's name, so
    /// the same losses get the same decision whatever the job is called.
    public var seed: UInt64 = 0

    public init(stepsPerEpoch: Int, totalSteps: Int) {
        self.stepsPerEpoch = stepsPerEpoch
        self.totalSteps = totalSteps
    }

    /// The paper's method exactly: its test and Algorithm 1's ramp.
    public static func paper(stepsPerEpoch: Int, totalSteps: Int) -> AutoWUConfiguration {
        var configuration = AutoWUConfiguration(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
        configuration.policy = .paper
        configuration.test = .paper
        configuration.patience = 3
        return configuration
    }

    enum CodingKeys: String, CodingKey {
        case stepsPerEpoch, totalSteps, decay, warmupShape, minimumRate, maximumRate, warmupFraction, policy, patience
        case divergenceFactor, flatPace, lagSteps, stepsPerDecade, reboundBackoff, test, decisionDelaySteps, seed
    }

    /// The patience a policy uses unless told otherwise.
    public static func defaultPatience(_ policy: WarmupPolicy) -> Int { policy == .paper ? 3 : 2 }

    /// A configuration persisted before the hold policy existed decodes as the paper's policy it ran.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stepsPerEpoch = try c.decode(Int.self, forKey: .stepsPerEpoch)
        totalSteps = try c.decode(Int.self, forKey: .totalSteps)
        decay = try c.decode(DecaySchedule.self, forKey: .decay)
        warmupShape = try c.decode(WarmupSchedule.Shape.self, forKey: .warmupShape)
        minimumRate = try c.decode(Double.self, forKey: .minimumRate)
        maximumRate = try c.decode(Double.self, forKey: .maximumRate)
        warmupFraction = try c.decode(Double.self, forKey: .warmupFraction)
        policy = try c.decodeIfPresent(WarmupPolicy.self, forKey: .policy) ?? .paper
        patience = try c.decode(Int.self, forKey: .patience)
        divergenceFactor = try c.decode(Double.self, forKey: .divergenceFactor)
        flatPace = try c.decodeIfPresent(Double.self, forKey: .flatPace) ?? 1
        // Persisted before the lag correction existed: those jobs decay from the LR at t*.
        lagSteps = try c.decodeIfPresent(Double.self, forKey: .lagSteps) ?? 0
        // Persisted before the climb limit existed: those jobs keep the ramp they started on.
        stepsPerDecade = try c.decodeIfPresent(Double.self, forKey: .stepsPerDecade) ?? 0
        // Persisted before the back-off existed: a rebound decays from the LR at t*, as those jobs were promised.
        reboundBackoff = try c.decodeIfPresent(Double.self, forKey: .reboundBackoff) ?? 1
        test = try c.decode(MinimumTestSettings.self, forKey: .test)
        decisionDelaySteps = try c.decode(Int.self, forKey: .decisionDelaySteps)
        seed = try c.decode(UInt64.self, forKey: .seed)
    }

    /// The warmup schedule these parameters describe; throws with a message naming the bad parameter.
    public func warmupSchedule() throws -> WarmupSchedule {
        let ramp = try WarmupSchedule(shape: warmupShape, minimumRate: minimumRate, maximumRate: maximumRate,
                                      warmupFraction: warmupFraction, totalSteps: totalSteps)
        guard let start = climbLimitedStart(warmupSteps: ramp.warmupSteps) else { return ramp }
        return try WarmupSchedule(shape: warmupShape, minimumRate: start, maximumRate: maximumRate,
                                  warmupFraction: warmupFraction, totalSteps: totalSteps)
    }

    /// The ramp's start when the climb limit raises it above eta_min; nil when it does not apply.
    public func climbLimitedStart(warmupSteps: Int) -> Double? {
        guard policy == .hold, warmupShape == .exponential, stepsPerDecade > 0 else { return nil }
        let start = maximumRate * pow(10, -Double(warmupSteps) / stepsPerDecade)
        return start > minimumRate && start < maximumRate ? start : nil
    }

    public func validate() throws {
        try require(stepsPerEpoch >= 1, "steps per epoch must be at least 1, got \(stepsPerEpoch)")
        _ = try warmupSchedule()
        try require(decisionDelaySteps >= 0, "the decision delay cannot be negative, got \(decisionDelaySteps)")
        try require(patience >= 1, "the patience p must be at least 1, got \(patience)")
        try require(divergenceFactor > 1, "the divergence factor must exceed 1 (use infinity to disable the explosion rule), got \(divergenceFactor)")
        try require(flatPace.isFinite && flatPace >= 1 && flatPace <= 100, "the flat pace must lie between 1 and 100, got \(flatPace)")
        try require(lagSteps.isFinite && lagSteps >= 0 && lagSteps <= 1_000_000, "the lag must lie between 0 and 1e6 steps, got \(lagSteps)")
        try require(reboundBackoff > 0 && reboundBackoff <= 1, "the rebound's back-off must lie in (0, 1], got \(reboundBackoff)")
        try require(stepsPerDecade.isFinite && stepsPerDecade >= 0 && stepsPerDecade <= 1_000_000,
                    "the climb limit (steps per decade) must lie between 0 (off) and 1e6, got \(stepsPerDecade)")
        try decay.validate()
        try test.validate()
    }
}
