import AutoWU

/// A plan as a rank holds it: the LR segments plus the gates that say which steps it may run
/// (protocol/SPEC.md, sections 6 and 7).
public struct RankPlan: Sendable, Equatable {
    public var schedule: LearningRatePlan
    public var stepsPerEpoch: Int
    public var decisionDelaySteps: Int
    public var warmupSteps: Int
    /// The last epoch whose verdict the plan includes; -1 before the first.
    public var decidedThroughEpoch: Int
    /// The warmup has ended: no gates any more.
    public var isFinal: Bool

    public init(schedule: LearningRatePlan, stepsPerEpoch: Int, decisionDelaySteps: Int, warmupSteps: Int,
                decidedThroughEpoch: Int, isFinal: Bool) {
        self.schedule = schedule
        self.stepsPerEpoch = stepsPerEpoch
        self.decisionDelaySteps = decisionDelaySteps
        self.warmupSteps = warmupSteps
        self.decidedThroughEpoch = decidedThroughEpoch
        self.isFinal = isFinal
    }

    /// The gate of epoch e: the first step that needs its verdict.
    public func gate(ofEpoch epoch: Int) -> Int { (epoch + 1) * stepsPerEpoch + decisionDelaySteps }

    /// required(t): the latest epoch whose verdict step `step` depends on, or -1.
    public func requiredEpoch(forStep step: Int) -> Int {
        // The last tested epoch: the largest e with g(e) < W.
        let lastTested = (warmupSteps - 1 - decisionDelaySteps) / stepsPerEpoch - 1
        let reached = (step - decisionDelaySteps) / stepsPerEpoch - 1
        guard step >= decisionDelaySteps + stepsPerEpoch, lastTested >= 0 else { return -1 }
        return min(reached, lastTested)
    }

    /// Whether this plan alone determines the LR of `step`.
    public func permits(step: Int) -> Bool {
        isFinal || decidedThroughEpoch >= requiredEpoch(forStep: step)
    }

    /// The LR of `step`, or nil when the plan may still change before it (the rank must wait).
    public func learningRate(at step: Int) -> Double? {
        permits(step: step) ? schedule.learningRate(at: step) : nil
    }
}

extension RankPlan {
    public init(wire: Autowu_V1_Plan) throws {
        guard wire.stepsPerEpoch >= 1, wire.stepsPerEpoch <= WireProtocol.maximumTotalSteps,
              wire.warmupSteps <= WireProtocol.maximumTotalSteps, wire.decisionDelaySteps <= WireProtocol.maximumTotalSteps,
              wire.decidedThroughEpoch >= -1 else {
            throw ProtocolError(.errorMalformed, "a plan's gate fields are out of range")
        }
        self.init(schedule: try LearningRatePlan(wireSegments: wire.segments), stepsPerEpoch: Int(wire.stepsPerEpoch),
                  decisionDelaySteps: Int(wire.decisionDelaySteps), warmupSteps: Int(wire.warmupSteps),
                  decidedThroughEpoch: Int(wire.decidedThroughEpoch), isFinal: wire.final)
    }

    public var wire: Autowu_V1_Plan {
        .with {
            $0.segments = schedule.wireSegments
            $0.stepsPerEpoch = UInt64(stepsPerEpoch)
            $0.decisionDelaySteps = UInt64(decisionDelaySteps)
            $0.warmupSteps = UInt64(warmupSteps)
            $0.decidedThroughEpoch = Int64(decidedThroughEpoch)
            $0.final = isFinal
        }
    }
}
