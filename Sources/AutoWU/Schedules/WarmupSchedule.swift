/// The warmup phase's LR: from `minimumRate` at step 0 to `maximumRate` at step `warmupSteps`
/// (= floor(rho_w * T)), exponentially (Eq. 1, the method) or linearly (Eq. 6, the paper's ablation).
public struct WarmupSchedule: Sendable, Equatable, Codable {
    public enum Shape: String, Sendable, Codable, CaseIterable {
        case exponential
        case linear
    }

    public let shape: Shape
    public let minimumRate: Double
    public let maximumRate: Double
    /// floor(rho_w * T): the step at which the LR reaches `maximumRate` and warmup ends at the latest.
    public let warmupSteps: Int

    public init(shape: Shape = .exponential, minimumRate: Double = 1e-5, maximumRate: Double = 1.0,
                warmupFraction: Double = 0.5, totalSteps: Int) throws {
        try require(minimumRate.isFinite && minimumRate > 0, "eta_min must be a positive number, got \(minimumRate)")
        try require(maximumRate.isFinite && maximumRate > minimumRate,
                    "eta_max must be a number greater than eta_min (\(minimumRate)), got \(maximumRate)")
        try require(warmupFraction > 0 && warmupFraction < 1, "rho_w must lie strictly between 0 and 1, got \(warmupFraction)")
        try require(totalSteps >= 1, "total steps must be at least 1, got \(totalSteps)")
        let steps = Int((warmupFraction * Double(totalSteps)).rounded(.down))
        try require(steps >= 1, "floor(rho_w * total steps) = floor(\(warmupFraction) * \(totalSteps)) is 0: the warmup has no step")
        self.shape = shape
        self.minimumRate = minimumRate
        self.maximumRate = maximumRate
        self.warmupSteps = steps
    }

    public var segment: ScheduleSegment {
        switch shape {
        case .exponential:
            return .exponential(fromStep: 0, toStep: warmupSteps, fromRate: minimumRate, toRate: maximumRate)
        case .linear:
            return .linear(fromStep: 0, toStep: warmupSteps, fromRate: minimumRate, toRate: maximumRate)
        }
    }

    /// The warmup LR at step t, also at a fractional t* (Eq. 5); clamped to `maximumRate` past the warmup.
    public func learningRate(at step: Double) -> Double {
        segment.learningRate(at: step)
    }
}
