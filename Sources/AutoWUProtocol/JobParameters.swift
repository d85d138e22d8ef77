import AutoWU

/// A registered job's parameters on the Swift side: the controller's configuration plus what the daemon
/// needs to aggregate the ranks' losses.
public struct JobParameters: Sendable, Equatable {
    public enum Reporting: String, Sendable, Codable {
        /// Every rank reports its local loss; the daemon averages per step.
        case perRank = "per-rank"
        /// Rank 0 reports the loss all-reduced over the ranks.
        case rankZero = "rank-zero"
    }

    public var configuration: AutoWUConfiguration
    public var worldSize: Int
    public var reporting: Reporting
    public var solver: SolverKind

    /// Reads and validates a wire spec; the error names the bad parameter. The job's id plays no part in its
    /// decisions: the subsets' seed is a spec field (0 when absent).
    public init(spec: Autowu_V1_JobSpec, jobID: String) throws {
        func invalid(_ message: String) -> ProtocolError { ProtocolError(.errorInvalidArgument, message) }
        guard spec.stepsPerEpoch >= 1, spec.stepsPerEpoch <= WireProtocol.maximumTotalSteps else {
            throw invalid("steps_per_epoch must be between 1 and 2^40, got \(spec.stepsPerEpoch)")
        }
        guard spec.totalSteps >= 1, spec.totalSteps <= WireProtocol.maximumTotalSteps else {
            throw invalid("total_steps must be between 1 and 2^40, got \(spec.totalSteps)")
        }
        guard spec.worldSize >= 1, spec.worldSize <= WireProtocol.maximumWorldSize else {
            throw invalid("world_size must be between 1 and 65536, got \(spec.worldSize)")
        }
        var c = AutoWUConfiguration(stepsPerEpoch: Int(spec.stepsPerEpoch), totalSteps: Int(spec.totalSteps))
        let h = spec.hyperparameters
        if h.hasEtaMin { c.minimumRate = h.etaMin }
        if h.hasEtaMax { c.maximumRate = h.etaMax }
        if h.hasRhoW { c.warmupFraction = h.rhoW }
        if h.hasNTest { c.test.testCount = Int(h.nTest) }
        if h.hasConfidence { c.test.confidence = h.confidence }
        if h.hasPatience {
            guard h.patience >= 1, h.patience <= 1000 else { throw invalid("patience must be between 1 and 1000, got \(h.patience)") }
        }
        if h.hasDivergenceFactor { c.divergenceFactor = h.divergenceFactor }
        if h.hasFlatPace { c.flatPace = h.flatPace }
        if h.hasLagSteps { c.lagSteps = h.lagSteps }
        if h.hasStepsPerDecade { c.stepsPerDecade = h.stepsPerDecade }
        switch spec.decay {
        case .decayCosine: c.decay = .cosine
        case .decayConstantCosine: c.decay = .constantThenCosine(cosineFraction: h.hasCosineFraction ? h.cosineFraction : 0.2)
        case .UNRECOGNIZED(let value): throw invalid("unknown decay kind \(value)")
        }
        switch spec.warmup {
        case .warmupExponential: c.warmupShape = .exponential
        case .warmupLinear: c.warmupShape = .linear
        case .UNRECOGNIZED(let value): throw invalid("unknown warmup shape \(value)")
        }
        let delay = spec.hasDecisionDelaySteps ? spec.decisionDelaySteps : 1
        guard delay <= WireProtocol.maximumTotalSteps else { throw invalid("decision_delay_steps is too large: \(delay)") }
        c.decisionDelaySteps = Int(delay)
        guard spec.stepsPerEpoch + delay <= UInt64(WireProtocol.maximumBatchLosses) else {
            // A rank's pending losses at a gate (at most E + d) must fit one loss batch.
            throw invalid("steps_per_epoch + decision_delay_steps must be at most \(WireProtocol.maximumBatchLosses), got \(spec.stepsPerEpoch + delay)")
        }
        c.seed = spec.hasSeed ? spec.seed : 0
        switch spec.test {
        case .testRobust: c.test.kind = .robust
        case .testPaper: c.test.kind = .paper
        case .UNRECOGNIZED(let value): throw invalid("unknown test kind \(value)")
        }
        switch spec.policy {
        case .policyHold: c.policy = .hold
        case .policyPaper: c.policy = .paper
        case .UNRECOGNIZED(let value): throw invalid("unknown warmup policy \(value)")
        }
        c.patience = h.hasPatience ? Int(h.patience) : AutoWUConfiguration.defaultPatience(c.policy)
        do {
            try c.validate()
        } catch let error as ConfigurationError {
            throw invalid(error.description)
        }
        self.configuration = c
        self.worldSize = Int(spec.worldSize)
        switch spec.reporting {
        case .reportingPerRank: reporting = .perRank
        case .reportingRankZero: reporting = .rankZero
        case .UNRECOGNIZED(let value): throw invalid("unknown reporting mode \(value)")
        }
        switch spec.solver {
        case .solverFast: solver = .fast
        case .solverExact: solver = .exact
        case .UNRECOGNIZED(let value): throw invalid("unknown solver \(value)")
        }
    }
}

extension Autowu_V1_JobSpec {
    /// The spec with every default spelled out, so that two registrations that mean the same compare equal.
    public func normalized(jobID: String) throws -> Autowu_V1_JobSpec {
        let p = try JobParameters(spec: self, jobID: jobID)
        let c = p.configuration
        var spec = self
        spec.decisionDelaySteps = UInt64(c.decisionDelaySteps)
        spec.seed = c.seed
        spec.hyperparameters = .with {
            $0.etaMin = c.minimumRate
            $0.etaMax = c.maximumRate
            $0.rhoW = c.warmupFraction
            $0.nTest = UInt32(c.test.testCount)
            $0.confidence = c.test.confidence
            $0.patience = UInt32(c.patience)
            $0.divergenceFactor = c.divergenceFactor
            // Spelled out only when set: specs stored before the flat pace existed stay equal to new ones.
            if c.flatPace != 1 { $0.flatPace = c.flatPace }
            if c.lagSteps != 0 { $0.lagSteps = c.lagSteps }
            if c.stepsPerDecade != AutoWUConfiguration.defaultStepsPerDecade { $0.stepsPerDecade = c.stepsPerDecade }
            if case let .constantThenCosine(fraction) = c.decay { $0.cosineFraction = fraction }
        }
        return spec
    }
}
