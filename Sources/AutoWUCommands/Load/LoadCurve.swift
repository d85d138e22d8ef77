import AutoWU
import Foundation

/// The loss a simulated rank reports for a step: a recorded trace, or a synthetic curve that keeps falling,
/// so that every job stays in its warmup (and so asks for a verdict every epoch) for as long as it runs.
struct LoadCurve: Sendable {
    /// Row i is the loss of step i; nil: the synthetic curve.
    let trace: [Double]?

    /// Past a trace's end its rows are played again from the start: a load run may outlast any trace.
    func loss(step: Int, rank: Int, worldSize: Int) -> Double {
        let base = trace.map { $0[step % $0.count] } ?? Self.synthetic(step: step)
        // Ranks differ a little but average to the curve, as in `autowu simulate`.
        let spread = (Double(rank) - Double(worldSize - 1) / 2) * 1e-3
        return base.isFinite ? base + spread * abs(base) : base
    }

    /// 0.3 + 2 exp(-step / 4000) with 1% noise: still falling clearly after 10,000 steps, so the minimum
    /// test keeps finding the minimum ahead. The noise is seeded by the step: every run is the same.
    static func synthetic(step: Int) -> Double {
        var bits = SubsetSampler(seed: UInt64(truncatingIfNeeded: step))
        let uniform = Double(bits.nextUniformBits() >> 11) / Double(1 << 53)
        let clean = 0.3 + 2.0 * exp(-Double(step) / 4000)
        return clean * (1 + 0.01 * (2 * uniform - 1))
    }
}
