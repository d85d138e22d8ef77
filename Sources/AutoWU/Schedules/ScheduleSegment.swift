import Foundation

/// One closed-form piece of a learning-rate plan.
///
/// The formulas here are the single source of truth for every LR autowu hands out: the warmup and decay
/// schedules, the daemon's plans and the clients all evaluate them through `learningRate(at:)`, and
/// `protocol/SPEC.md` spells out the same operations in the same order so that other languages get the
/// identical doubles.
public enum ScheduleSegment: Sendable, Equatable, Codable {
    /// `lr0 * pow(lr1 / lr0, (t - t0) / (t1 - t0))`, t clamped to `[t0, t1]` (Eq. 1 of the paper).
    case exponential(fromStep: Int, toStep: Int, fromRate: Double, toRate: Double)
    /// `lr0 + (lr1 - lr0) * ((t - t0) / (t1 - t0))`, t clamped to `[t0, t1]` (Eq. 6, for ablations).
    case linear(fromStep: Int, toStep: Int, fromRate: Double, toRate: Double)
    /// `lr`.
    case constant(rate: Double)
    /// `lr0 * 0.5 * (1 + cos(pi * (t - t0) / (t1 - t0)))`, t clamped to `[t0, t1]`: reaches 0 at `t1`.
    case cosine(fromStep: Int, toStep: Int, fromRate: Double)

    /// The LR at a (possibly fractional) step. Integer steps are what training uses; fractional ones are
    /// what Eq. 5 asks for (the LR at the estimated minimum t*).
    public func learningRate(at step: Double) -> Double {
        switch self {
        case let .exponential(t0, t1, lr0, lr1):
            return lr0 * pow(lr1 / lr0, Self.progress(step, t0, t1))
        case let .linear(t0, t1, lr0, lr1):
            return lr0 + (lr1 - lr0) * Self.progress(step, t0, t1)
        case let .constant(lr):
            return lr
        case let .cosine(t0, t1, lr0):
            return lr0 * 0.5 * (1.0 + cos(Double.pi * Self.progress(step, t0, t1)))
        }
    }

    /// `(t - t0) / (t1 - t0)` clamped to [0, 1]; an empty span counts as finished.
    static func progress(_ step: Double, _ from: Int, _ to: Int) -> Double {
        guard to > from else { return 1.0 }
        let fraction = (step - Double(from)) / Double(to - from)
        return min(max(fraction, 0.0), 1.0)
    }
}
