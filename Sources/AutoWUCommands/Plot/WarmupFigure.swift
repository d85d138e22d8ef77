import AutoWU
import Foundation

/// Everything the warmup plot shows, from a replayed trace or a stored job; rendering needs nothing else.
public struct WarmupFigure: Sendable {
    /// One end-of-epoch test.
    public struct Test: Sendable, Equatable {
        public var epoch: Int
        public var step: Int
        public var learningRate: Double
        public var pMin: [Double]
        public var votes: Int
        public var streak: Int
        public var outliers: Int
        public var diverged: Bool
        public var note: String?
        /// The fitted hyper-parameters, when known.
        public var model: GaussianProcessModel?
    }

    /// The job id or the trace's file name.
    public var name: String
    /// Per-step losses from step 0 (NaN where unknown).
    public var losses: [Double]
    public var plan: LearningRatePlan
    public var totalSteps: Int
    public var tests: [Test]
    /// The decisive test's posterior (the last sound test before the switch, or the last one).
    public var posterior: TestPosterior?
    /// The epoch of the test `posterior` belongs to.
    public var posteriorEpoch: Int?
    public var decision: SwitchDecision?
    /// c: a subset votes when its P_min exceeds it.
    public var confidence: Double

    /// The decision in words, for the title.
    public var decisionText: String {
        guard let d = decision else { return "no switch" }
        return "switch after epoch \(d.epoch) at step \(d.step), lr \(String(format: "%.3g", d.learningRate)) (\(d.reason.rawValue))"
    }

    /// The step the warmup ends at: the switch, or where the plan's warmup stops.
    var warmupEnd: Int { decision?.step ?? max(losses.count, tests.last?.step ?? 0) }
}

extension WarmupFigure {
    /// The figure of a replay of `trace` (the report must have been made with `keepingPosterior`).
    public init(name: String, trace: LossTrace, report: ReplayReport, configuration: AutoWUConfiguration) {
        let decisive = report.verdicts.last { $0.check?.model != nil }
        self.init(name: name, losses: trace.losses, plan: report.plan, totalSteps: configuration.totalSteps,
                  tests: report.verdicts.compactMap(Test.init(verdict:)), posterior: report.posterior,
                  posteriorEpoch: report.posterior == nil ? nil : decisive?.epoch, decision: report.decision,
                  confidence: configuration.test.confidence)
    }
}

extension WarmupFigure.Test {
    /// The test of a verdict; nil for an epoch that ran none.
    init?(verdict: EpochVerdict) {
        guard let check = verdict.check else { return nil }
        self.init(epoch: verdict.epoch, step: verdict.step, learningRate: verdict.learningRate, pMin: check.pMin,
                  votes: check.votes, streak: verdict.streak, outliers: check.outliers, diverged: verdict.diverged,
                  note: check.note, model: check.model)
    }
}
