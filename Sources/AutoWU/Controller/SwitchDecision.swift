/// Why the warmup ended.
public enum SwitchReason: String, Sendable, Codable {
    /// p consecutive positive minimum tests (the method).
    case gpTest = "gp_test"
    /// The loss blew up or stopped being finite; the LR comes from the finite history before it.
    case diverged
    /// No minimum by floor(rho_w * T): the decay starts from the LR reached (the paper's policy) or from the
    /// LR at the last test's estimate of the minimum (the hold policy).
    case maxWarmup = "max_warmup"
    /// The loss climbed back more than half of the way it had come down (the hold policy): the warmup has
    /// gone past its minimum, whether or not the GP is sure yet.
    case rebound
}

/// The end of the warmup: from `step` on, the decay schedule runs from `learningRate`.
public struct SwitchDecision: Sendable, Equatable, Codable {
    public var reason: SwitchReason
    /// The 0-based epoch whose end decided the switch.
    public var epoch: Int
    /// The first step on the decay schedule.
    public var step: Int
    /// The decay's starting LR: the warmup LR at t* (Eq. 5); for a rebound, `reboundBackoff` times it.
    public var learningRate: Double
    /// t* = t * mean_i argmin_x mu_i(x): the estimated step of the loss minimum.
    public var minimumStep: Double
}

/// What the controller says at the end of one epoch.
public struct EpochVerdict: Sendable, Equatable, Codable {
    /// The 0-based epoch just completed.
    public var epoch: Int
    /// Steps done so far (t of the paper: the losses L_0..L_{t-1} are known).
    public var step: Int
    /// The LR of the epoch's last step.
    public var learningRate: Double
    /// The test's figures, when one ran (not past the warmup limit).
    public var check: MinimumTestResult?
    /// Consecutive positive tests, this one included.
    public var streak: Int
    public var diverged: Bool
    /// Set when this epoch ended the warmup.
    public var decision: SwitchDecision?
    /// The LR is held from this verdict's gate on (the hold policy).
    public var holding = false
}
