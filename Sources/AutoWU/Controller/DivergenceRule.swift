/// When training has diverged, the minimum test can no longer be trusted: its data turn NaN/inf (dropped)
/// or explode (the GP then smooths a cliff). The reference never switches in that case and keeps raising
/// the LR; autowu stops the warmup instead.
///
/// Rule: an epoch has diverged when the median of its losses, NaN and inf counting as +inf, exceeds
/// `factor` times the magnitude of the first epoch's median finite loss (the untrained loss). So: more than
/// half of an epoch non-finite, or its typical loss `factor` (100) times the starting loss. One median per
/// epoch keeps single spikes from counting.
public struct DivergenceRule: Sendable, Equatable {
    public var factor: Double

    public init(factor: Double) { self.factor = factor }

    /// The median of the finite values; nil when there is none.
    public static func baseline(of epochLosses: [Double]) -> Double? {
        let finite = epochLosses.filter(\.isFinite).sorted()
        return finite.isEmpty ? nil : finite[(finite.count - 1) / 2]
    }

    public func hasDiverged(epochLosses: [Double], baseline: Double?) -> Bool {
        guard !epochLosses.isEmpty else { return false }
        let ordered = epochLosses.map { $0.isFinite ? $0 : .infinity }.sorted()
        let median = ordered[(ordered.count - 1) / 2]
        guard median.isFinite else { return true }
        guard let baseline, baseline != 0 else { return false }
        return median > factor * abs(baseline)
    }
}
