import AutoWU

/// Plays a recorded trace through the warmup controller, epoch by epoch, until the switch.
public struct Replay: Sendable {
    public var configuration: AutoWUConfiguration
    public var solver: SolverKind

    public init(configuration: AutoWUConfiguration, solver: SolverKind) {
        self.configuration = configuration
        self.solver = solver
    }

    /// `keepingPosterior`: also keep the decisive (last sound) test's posterior, for a plot.
    public func run(_ trace: LossTrace, keepingPosterior: Bool = false) throws -> ReplayReport {
        var controller = try WarmupController(configuration: configuration)
        var verdicts: [EpochVerdict] = []
        var decisive: EpochVerdict?
        let epochLength = configuration.stepsPerEpoch
        var start = 0
        // A trailing partial epoch is never tested: the controller only sees whole epochs.
        while controller.isWarmingUp, start + epochLength <= trace.losses.count {
            let epoch = Array(trace.losses[start ..< start + epochLength])
            let verdict = try controller.endEpoch(epoch, solver: solver)
            if verdict.check?.model != nil { decisive = verdict }
            verdicts.append(verdict)
            start += epochLength
        }
        var report = ReplayReport(verdicts: verdicts, decision: controller.decision, plan: controller.plan)
        if keepingPosterior { report.posterior = decisive?.posterior }
        return report
    }
}

/// The outcome of a replay, in the JSON contract of `autowu replay --json` (snake_case keys).
public struct ReplayReport: Sendable, Equatable, Encodable {
    public var verdicts: [EpochVerdict]
    public var decision: SwitchDecision?
    public var plan: LearningRatePlan
    /// The decisive test's posterior, when asked for (not part of the JSON contract).
    public var posterior: TestPosterior?

    struct Check: Encodable {
        var epoch: Int
        var step: Int
        var lr: Double
        var p_min: [Double]
        var votes: Int
        var positive: Bool
        var argmin_x: [Double]
        var streak: Int
        var diverged: Bool
        var holding: Bool
        var outliers: Int
        var note: String?
    }

    enum CodingKeys: String, CodingKey {
        case switched, reason, switch_epoch, switch_step, lr_after_switch, minimum_step, checks
    }

    var checks: [Check] {
        verdicts.compactMap { v in
            v.check.map {
                Check(epoch: v.epoch, step: v.step, lr: v.learningRate, p_min: $0.pMin, votes: $0.votes,
                      positive: $0.positive, argmin_x: $0.argminX, streak: v.streak, diverged: v.diverged,
                      holding: v.holding, outliers: $0.outliers, note: $0.note)
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(decision != nil, forKey: .switched)
        try c.encode(decision?.reason.rawValue, forKey: .reason)
        try c.encode(decision?.epoch, forKey: .switch_epoch)
        try c.encode(decision?.step, forKey: .switch_step)
        try c.encode(decision?.learningRate, forKey: .lr_after_switch)
        try c.encode(decision?.minimumStep, forKey: .minimum_step)
        try c.encode(checks, forKey: .checks)
    }
}
