import AutoWU
import Foundation

/// The robustness benchmark: how far spikes, bursts and rescalings move a test's decision on a trace.
///
/// For each trace and each test kind, the clean decision is replayed first; then every perturbation is
/// replayed and counted as kept when the switch epoch moves by at most `epochTolerance` and the switch LR by
/// at most the factor `rateTolerance`.
public struct RobustnessStudy: Sendable {
    public struct Perturbation: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// Losses at `steps` set to `value` (when given) or multiplied by `factor`.
            case spike(at: Int, length: Int, factor: Double?, value: Double?)
            /// Every loss multiplied by `factor`.
            case rescale(factor: Double)
            /// `offset` added to every loss.
            case shift(offset: Double)
        }

        public var name: String
        public var kind: Kind

        func apply(to losses: [Double]) -> [Double] {
            var out = losses
            switch kind {
            case let .spike(at, length, factor, value):
                for i in at..<min(at + length, out.count) {
                    out[i] = value ?? out[i] * (factor ?? 1)
                }
            case let .rescale(factor):
                out = out.map { $0 * factor }
            case let .shift(offset):
                out = out.map { $0 + offset }
            }
            return out
        }
    }

    public struct Outcome: Sendable, Equatable {
        public var trace: String
        public var test: MinimumTestKind
        public var perturbation: String
        public var clean: SwitchDecision?
        public var perturbed: SwitchDecision?
        public var kept: Bool
    }

    public var epochTolerance = 2
    public var rateTolerance = 1.25
    public var policy: WarmupPolicy = .paper
    public var outlierThreshold = MinimumTestSettings().outlierThreshold
    public var outlierWindow = MinimumTestSettings().outlierWindow

    public init() {}

    /// The perturbations of the benchmark, placed relative to the clean switch step.
    public static func perturbations(cleanSwitchStep: Int) -> [Perturbation] {
        var list: [Perturbation] = []
        for fraction in [25, 50, 75] {
            let at = max(0, cleanSwitchStep * fraction / 100 - 1)
            list.append(.init(name: "x10 at \(fraction)%", kind: .spike(at: at, length: 1, factor: 10, value: nil)))
            list.append(.init(name: "x1000 at \(fraction)%", kind: .spike(at: at, length: 1, factor: 1000, value: nil)))
            list.append(.init(name: "1e300 at \(fraction)%", kind: .spike(at: at, length: 1, factor: nil, value: 1e300)))
            list.append(.init(name: "-1e300 at \(fraction)%", kind: .spike(at: at, length: 1, factor: nil, value: -1e300)))
            list.append(.init(name: "3-step x10 at \(fraction)%", kind: .spike(at: at, length: 3, factor: 10, value: nil)))
        }
        for factor in [0.01, 0.1, 10, 100] {
            list.append(.init(name: "all x\(factor)", kind: .rescale(factor: factor)))
        }
        list.append(.init(name: "all +100", kind: .shift(offset: 100)))
        return list
    }

    func decide(_ losses: [Double], configuration: AutoWUConfiguration) throws -> SwitchDecision? {
        try Replay(configuration: configuration, solver: .fast).run(LossTrace(losses: losses)).decision
    }

    /// Every perturbation of one trace under one test kind.
    public func run(trace name: String, losses: [Double], stepsPerEpoch: Int, totalSteps: Int,
                    test: MinimumTestKind) throws -> [Outcome] {
        var configuration = AutoWUConfiguration(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
        configuration.test.kind = test
        configuration.policy = policy
        configuration.test.outlierThreshold = outlierThreshold
        configuration.test.outlierWindow = outlierWindow
        let clean = try decide(losses, configuration: configuration)
        let switchStep = clean?.step ?? losses.count
        return try Self.perturbations(cleanSwitchStep: switchStep).map { perturbation in
            let perturbed = try decide(perturbation.apply(to: losses), configuration: configuration)
            return Outcome(trace: name, test: test, perturbation: perturbation.name, clean: clean,
                           perturbed: perturbed, kept: isKept(clean: clean, perturbed: perturbed))
        }
    }

    func isKept(clean: SwitchDecision?, perturbed: SwitchDecision?) -> Bool {
        guard let clean, let perturbed else { return clean == nil && perturbed == nil }
        let ratio = perturbed.learningRate / clean.learningRate
        return abs(perturbed.epoch - clean.epoch) <= epochTolerance
            && ratio <= rateTolerance && ratio >= 1 / rateTolerance
    }

    /// steps_per_epoch and total_steps from a trace's name (`..._spe12_..._W960.csv`: T = 2W).
    public static func shape(fromName name: String) -> (stepsPerEpoch: Int, totalSteps: Int)? {
        func number(after tag: String) -> Int? {
            guard let range = name.range(of: "_\(tag)") else { return nil }
            return Int(name[range.upperBound...].prefix { $0.isNumber })
        }
        guard let spe = number(after: "spe"), let w = number(after: "W") else { return nil }
        return (spe, 2 * w)
    }
}
