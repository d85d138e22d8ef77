/// Algorithm 1 of the paper as a deterministic state machine, fed one epoch of losses at a time.
///
/// Its whole state is a value (Codable): persist it between epochs, restore it, and the later decisions are
/// bit-identical to an uninterrupted run's. It knows nothing of sockets, files, clocks or threads.
public struct WarmupController: Sendable, Equatable, Codable {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case wrongEpochLength(expected: Int, got: Int)
        case warmupOver(SwitchDecision)

        public var description: String {
            switch self {
            case let .wrongEpochLength(expected, got):
                return "an epoch has \(expected) steps, got \(got) losses"
            case let .warmupOver(decision):
                return "the warmup already ended at step \(decision.step) (\(decision.reason.rawValue)); no more tests run"
            }
        }
    }

    public let configuration: AutoWUConfiguration
    public let warmup: WarmupSchedule
    /// The warmup's LR path: the ramp with its holds (the hold policy).
    public private(set) var path: WarmupPath
    /// C of Algorithm 1: L_0..L_{t-1}.
    public private(set) var losses = LossHistory()
    /// patience_flag of Algorithm 1.
    public private(set) var streak = 0
    /// The GP's hyper-parameters and Adam's state, carried from test to test.
    public private(set) var fit: HyperparameterFit
    public private(set) var sampler: SubsetSampler
    /// The first epoch's median finite loss, for the divergence rule.
    public private(set) var baselineLoss: Double?
    /// The lowest epoch median so far and the last test's t* (the hold policy's rebound and max-warmup rules).
    public private(set) var bestEpochMedian: Double?
    public private(set) var lastMinimumStep: Double?
    /// The loss has come down from its first epoch (the flat pace's end).
    public private(set) var lossHasMoved = false
    public private(set) var decision: SwitchDecision?

    public init(configuration: AutoWUConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        self.warmup = try configuration.warmupSchedule()
        self.path = WarmupPath(ramp: warmup)
        self.fit = MinimumTest<LowRankSolver>.initialFit(configuration.test)
        self.sampler = SubsetSampler(seed: configuration.seed)
    }

    enum CodingKeys: String, CodingKey {
        case configuration, warmup, path, losses, streak, fit, sampler, baselineLoss, bestEpochMedian, lastMinimumStep
        case lossHasMoved, decision
    }

    /// A controller persisted before holds existed has a path without holds.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        configuration = try c.decode(AutoWUConfiguration.self, forKey: .configuration)
        warmup = try c.decode(WarmupSchedule.self, forKey: .warmup)
        path = try c.decodeIfPresent(WarmupPath.self, forKey: .path) ?? WarmupPath(ramp: warmup)
        losses = try c.decode(LossHistory.self, forKey: .losses)
        streak = try c.decode(Int.self, forKey: .streak)
        fit = try c.decode(HyperparameterFit.self, forKey: .fit)
        sampler = try c.decode(SubsetSampler.self, forKey: .sampler)
        baselineLoss = try c.decodeIfPresent(Double.self, forKey: .baselineLoss)
        bestEpochMedian = try c.decodeIfPresent(Double.self, forKey: .bestEpochMedian)
        lastMinimumStep = try c.decodeIfPresent(Double.self, forKey: .lastMinimumStep)
        lossHasMoved = try c.decodeIfPresent(Bool.self, forKey: .lossHasMoved) ?? false
        decision = try c.decodeIfPresent(SwitchDecision.self, forKey: .decision)
    }

    public var epochsCompleted: Int { losses.count / configuration.stepsPerEpoch }

    /// Whether the end of `epoch` gets a test: only while its verdict could still take effect before
    /// floor(rho_w * T).
    public func isTested(epoch: Int) -> Bool {
        (epoch + 1) * configuration.stepsPerEpoch + configuration.decisionDelaySteps < warmup.warmupSteps
    }
    public var isWarmingUp: Bool { decision == nil }

    /// The last epoch `isTested` holds for (-1 when none is).
    public var lastTestedEpoch: Int {
        (warmup.warmupSteps - 1 - configuration.decisionDelaySteps) / configuration.stepsPerEpoch - 1
    }

    /// The losses a test needs before it can vote (the robust test: `minimumLosses`).
    public var lossesPerTest: Int { configuration.test.kind == .robust ? configuration.test.minimumLosses : 1 }

    /// How many epochs get a test with the losses it needs; with fewer than the patience, the warmup can end
    /// only at its limit or by rebound.
    public var testsWithEnoughLosses: Int {
        let e = configuration.stepsPerEpoch
        let first = max(0, (lossesPerTest + e - 1) / e - 1)
        return max(0, lastTestedEpoch - first + 1)
    }

    /// The plan as known now: the warmup path, then the decay from the switch, or, while no switch is
    /// decided, from floor(rho_w * T) with the LR reached there.
    public var plan: LearningRatePlan {
        let start = decision?.step ?? warmup.warmupSteps
        let rate = decision?.learningRate ?? path.learningRate(at: Double(warmup.warmupSteps))
        let tail = configuration.decay.pieces(switchStep: start, rate: rate, totalSteps: configuration.totalSteps)
        // Valid by construction: the warmup starts at 0, holds start at gates before the switch, and every
        // switch step is >= 1.
        return try! LearningRatePlan(pieces: path.pieces.filter { $0.startStep < start } + tail)
    }

    /// The end of one epoch (the `if end of epoch` branch of Algorithm 1): `epochLosses` are its
    /// `stepsPerEpoch` losses, NaN/inf allowed (a missing report is a NaN).
    public mutating func endEpoch<Solver: GaussianProcessSolver>(_ epochLosses: [Double], solver: Solver) throws -> EpochVerdict {
        if let decision { throw Error.warmupOver(decision) }
        guard epochLosses.count == configuration.stepsPerEpoch else {
            throw Error.wrongEpochLength(expected: configuration.stepsPerEpoch, got: epochLosses.count)
        }
        let epoch = epochsCompleted
        let previousCount = losses.count
        losses.append(contentsOf: epochLosses)
        if epoch == 0 { baselineLoss = DivergenceRule.baseline(of: epochLosses) }
        let t = losses.count
        var verdict = EpochVerdict(epoch: epoch, step: t, learningRate: path.learningRate(at: Double(t - 1)),
                                   check: nil, streak: streak, diverged: false, decision: nil)
        let test = MinimumTest(settings: configuration.test, solver: solver)

        // A test whose switch could only start at or after floor(rho_w T) is moot: the warmup ends there.
        let switchStep = t + configuration.decisionDelaySteps
        guard isTested(epoch: epoch) else {
            verdict.decision = concludeIfNoTestRemains()
            return verdict
        }

        if DivergenceRule(factor: configuration.divergenceFactor).hasDiverged(epochLosses: epochLosses, baseline: baselineLoss) {
            // Locate the minimum in the history before the diverged epoch, with the same GP machinery.
            verdict.diverged = true
            let history = Array(losses.values[..<previousCount])
            var minimumStep = 0.0
            if !history.isEmpty {
                let check = test.run(losses: history, fit: &fit, sampler: &sampler)
                verdict.check = check
                minimumStep = Double(history.count) * check.meanArgmin
            }
            verdict.decision = decide(.diverged, epoch: epoch, step: switchStep, minimumStep: minimumStep)
            return verdict
        }

        let check = test.run(losses: losses.values, fit: &fit, sampler: &sampler)
        streak = check.positive ? streak + 1 : 0
        verdict.check = check
        verdict.streak = streak
        let median = DivergenceRule.baseline(of: epochLosses)
        defer { if let median { bestEpochMedian = min(bestEpochMedian ?? median, median) } }
        if check.note == nil { lastMinimumStep = Double(t) * check.meanArgmin }
        if configuration.policy == .hold, streak < configuration.patience,
           let median, let noise = check.noiseDeviation, hasRebounded(median: median, noise: noise) {
            // Without this test's estimate, an earlier test's, else the lowest epoch: "now" is where the loss has
            // climbed back to.
            let minimumStep = check.note == nil ? Double(t) * check.meanArgmin
                : (lastMinimumStep ?? lowestEpochMedianStep() ?? Double(t))
            verdict.decision = decide(.rebound, epoch: epoch, step: switchStep, minimumStep: minimumStep)
            return verdict
        }
        if streak >= configuration.patience {
            verdict.decision = decide(.gpTest, epoch: epoch, step: switchStep, minimumStep: Double(t) * check.meanArgmin)
        } else if configuration.policy == .hold {
            // Confirming a minimum must not cost overshoot: hold the LR from this verdict's gate while the
            // streak lasts; a negative test lets the ramp resume where it stopped.
            if check.positive { path.hold(from: switchStep) } else { path.resume(at: switchStep) }
            verdict.holding = path.isHolding
            if !check.positive { pace(from: switchStep, median: median, noise: check.noiseDeviation) }
        }
        return verdict
    }

    /// Ends the warmup at floor(rho_w * T) (reason `max_warmup`) once no test is left that could end it
    /// earlier; returns the decision if this call made it. The decision's epoch is the one holding the
    /// warmup's last step.
    @discardableResult
    public mutating func concludeIfNoTestRemains() -> SwitchDecision? {
        guard decision == nil, !isTested(epoch: epochsCompleted) else { return nil }
        let w = warmup.warmupSteps
        // The hold policy trusts the last test's estimate of the minimum even if it was not confident:
        // decaying from the LR reached at floor(rho_w T) is the paper's choice, and often far too high. With
        // no estimate (no test had the losses it needs) it takes the epoch where the loss was lowest.
        let estimate = lastMinimumStep ?? lowestEpochMedianStep()
        let minimumStep = configuration.policy == .hold ? min(estimate ?? Double(w), Double(w)) : Double(w)
        return decide(.maxWarmup, epoch: (w - 1) / configuration.stepsPerEpoch, step: w, minimumStep: minimumStep)
    }

    /// The middle of the tested epoch with the lowest median loss (the lower median of its finite losses; the
    /// earliest on a tie): epoch e holds steps eE ..< (e+1)E, so its middle is eE + (E-1)/2. Only tested
    /// epochs count, as the daemon never hands over the others. Nil without such an epoch.
    func lowestEpochMedianStep() -> Double? {
        let e = configuration.stepsPerEpoch
        var best: (median: Double, epoch: Int)?
        for epoch in 0..<(losses.count / e) where isTested(epoch: epoch) {
            guard let median = DivergenceRule.baseline(of: Array(losses.values[(epoch * e)..<((epoch + 1) * e)])) else { continue }
            if best.map({ median < $0.median }) ?? true { best = (median, epoch) }
        }
        return best.map { Double($0.epoch * e) + Double(e - 1) / 2 }
    }

    /// The flat pace: while the loss has not come down from its first epoch's median by
    /// `progressDeviations` noise deviations, the ramp's end is brought forward by `flatPace`; once it has,
    /// what is left of the ramp is spread over what is left of the warmup (so it ends at floor(rho_w T) as
    /// the paper's does, more slowly than it would have).
    private mutating func pace(from gate: Int, median: Double?, noise: Double?) {
        guard configuration.flatPace > 1, !lossHasMoved else { return }
        let w = warmup.warmupSteps
        // The noise figure of a few losses can come out far too small (see MinimumTestSettings.minimumLosses):
        // until there are enough, the loss counts as flat.
        if losses.count >= configuration.test.minimumLosses, let baseline = baselineLoss, let median, let noise, noise > 0,
           baseline - min(bestEpochMedian ?? median, median) > AutoWUConfiguration.progressDeviations * noise {
            lossHasMoved = true
            if path.hasChangedPace { path.setPace(from: gate, reachingTheEndAt: w) }
            return
        }
        guard !path.hasChangedPace else { return }
        let left = Double(w) - path.clock(at: gate)
        path.setPace(from: gate, reachingTheEndAt: gate + Int((left / configuration.flatPace).rounded(.up)))
    }

    /// The rebound rule: the loss had come down from its first epoch's median by more than 10 noise
    /// deviations, and this epoch's median has climbed back more than half of that way. Differences of
    /// medians over a noise deviation: free of the loss's scale and offset, like the robust test.
    func hasRebounded(median: Double, noise: Double) -> Bool {
        guard let baseline = baselineLoss, let best = bestEpochMedian, noise > 0 else { return false }
        let drop = baseline - best
        return drop > 10 * noise && median - best > 0.5 * drop
    }

    /// Eq. 5: the decay starts from the warmup path's LR at t* (the hold policy: `lagSteps` before it, and
    /// after a rebound `reboundBackoff` times that).
    private mutating func decide(_ reason: SwitchReason, epoch: Int, step: Int, minimumStep: Double) -> SwitchDecision {
        let lag = configuration.policy == .hold ? configuration.lagSteps : 0
        var learningRate = path.learningRate(at: max(0, minimumStep - lag))
        if reason == .rebound { learningRate *= configuration.reboundBackoff }
        let decision = SwitchDecision(reason: reason, epoch: epoch, step: step,
                                      learningRate: learningRate, minimumStep: minimumStep)
        self.decision = decision
        return decision
    }
}
