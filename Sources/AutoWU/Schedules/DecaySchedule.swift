/// The decay phase's shape: it starts at the switch step from the LR the warmup found and reaches 0 at the
/// last step T.
public enum DecaySchedule: Sendable, Equatable, Codable {
    /// Cosine from the switch LR to 0 over the remaining steps.
    case cosine
    /// Constant at the switch LR, then cosine to 0 over the last `cosineFraction` of all T steps
    /// (the paper: 0.2).
    case constantThenCosine(cosineFraction: Double)

    public static let constantThenCosine = DecaySchedule.constantThenCosine(cosineFraction: 0.2)

    public func validate() throws {
        if case let .constantThenCosine(fraction) = self {
            try require(fraction > 0 && fraction <= 1, "the cosine fraction of constant-then-cosine must lie in (0, 1], got \(fraction)")
        }
    }

    /// The plan pieces of the decay phase starting at `switchStep` from `rate`, for a run of `totalSteps`.
    public func pieces(switchStep: Int, rate: Double, totalSteps: Int) -> [LearningRatePlan.Piece] {
        switch self {
        case .cosine:
            return [.init(startStep: switchStep, segment: .cosine(fromStep: switchStep, toStep: totalSteps, fromRate: rate))]
        case let .constantThenCosine(fraction):
            let cosineStart = max(switchStep, totalSteps - Int((fraction * Double(totalSteps)).rounded(.down)))
            var pieces: [LearningRatePlan.Piece] = []
            if cosineStart > switchStep {
                pieces.append(.init(startStep: switchStep, segment: .constant(rate: rate)))
            }
            pieces.append(.init(startStep: cosineStart, segment: .cosine(fromStep: cosineStart, toStep: totalSteps, fromRate: rate)))
            return pieces
        }
    }
}
