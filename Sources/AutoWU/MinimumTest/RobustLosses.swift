import Foundation

/// What the robust test fits instead of the raw losses: isolated outliers set aside and the rest put on
/// one fixed scale (docs/decisions.md, "The robust test").
///
/// 1. Outliers (a Hampel filter): a loss whose distance from the median of its `window` neighbours exceeds
///    `threshold` noise deviations is set aside (NaN: dropped from the fit, its index kept), as are
///    non-finite losses. The deviation is the larger of the window's own (its MAD: noise grows with the LR,
///    and a steep stretch widens it) and the whole history's (so a quiet window does not flag ordinary
///    noise). The window is shifted inward at the edges, so the latest losses are judged by their own
///    neighbours too; a burst of fewer than half a window moves neither its median nor its MAD much.
/// 2. Scale: z = (L - median) / s, where s makes the robust noise variance equal to the GP's initial noise
///    variance, the noise level the paper's constants (initial noise, noise floor, outputscale, Adam's step)
///    were chosen for. Multiplying every loss by c > 0 or adding a constant leaves z unchanged (bit for bit
///    for powers of two), so the decision is scale- and offset-free.
public struct RobustLosses: Sendable, Equatable {
    /// The standardised losses; NaN where a loss was non-finite or an outlier.
    public var values: [Double]
    /// Finite losses set aside as outliers.
    public var outliers: Int
    /// The robust noise deviation of the raw losses (1.4826 x the median absolute residual); 0 when the
    /// losses are constant.
    public var noiseDeviation: Double
    /// z = (L - center) / scale: maps a posterior on z back to the losses' units.
    public var center = 0.0
    public var scale = 1.0

    /// 1 / Phi^-1(3/4): turns a median absolute deviation into a standard deviation for Gaussian noise.
    static let madToDeviation = 1.482602218505602

    public init(_ losses: [Double], window: Int, threshold: Double, targetNoiseVariance: Double) {
        let finite = losses.indices.filter { losses[$0].isFinite }
        var values = [Double](repeating: .nan, count: losses.count)
        guard !finite.isEmpty else {
            self.init(values: values, outliers: 0, noiseDeviation: 0)
            return
        }
        let finiteValues = finite.map { losses[$0] }
        // Residuals from the running median of the finite losses (neighbours in step order).
        let half = max(1, window / 2)
        var residuals = [Double](repeating: 0, count: finite.count)
        var localDeviations = [Double](repeating: 0, count: finite.count)
        var neighbourhood: [Double] = []
        neighbourhood.reserveCapacity(2 * half + 1)
        for k in finite.indices {
            let lower = max(0, min(k - half, finite.count - (2 * half + 1)))
            let upper = min(finite.count, lower + 2 * half + 1)
            neighbourhood.removeAll(keepingCapacity: true)
            neighbourhood.append(contentsOf: finiteValues[lower..<upper])
            let center = Self.median(&neighbourhood)
            residuals[k] = finiteValues[k] - center
            for j in neighbourhood.indices { neighbourhood[j] = abs(neighbourhood[j] - center) }
            localDeviations[k] = Self.madToDeviation * Self.median(&neighbourhood)
        }
        var absolute = residuals.map { $0.isFinite ? abs($0) : .infinity }
        var deviation = Self.madToDeviation * Self.median(&absolute)
        if !(deviation > 0 && deviation.isFinite) {
            // No noise at all (a constant or piecewise-constant history): judge by the spread of the values.
            var scratch = finiteValues
            let center = Self.median(&scratch)
            var spread = finiteValues.map { abs($0 - center) }
            deviation = Self.madToDeviation * Self.median(&spread)
        }
        guard deviation > 0 && deviation.isFinite else {
            // Every loss equal: nothing to detect, and nothing is an outlier.
            for k in finite { values[k] = 0 }
            self.init(values: values, outliers: 0, noiseDeviation: 0)
            return
        }
        let isKept = finite.indices.map { k in
            // Non-finite residuals or deviations (losses near the largest double) count as outliers.
            abs(residuals[k]) <= threshold * max(deviation, localDeviations[k].isFinite ? localDeviations[k] : 0)
        }
        var kept = finite.indices.filter { isKept[$0] }.map { finiteValues[$0] }
        let outliers = finite.count - kept.count
        guard !kept.isEmpty else {
            self.init(values: values, outliers: outliers, noiseDeviation: deviation)
            return
        }
        let center = Self.median(&kept)
        let scale = deviation / targetNoiseVariance.squareRoot()
        for (k, index) in finite.enumerated() where isKept[k] {
            values[index] = (losses[index] - center) / scale
        }
        self.init(values: values, outliers: outliers, noiseDeviation: deviation)
        self.center = center
        self.scale = scale
    }

    init(values: [Double], outliers: Int, noiseDeviation: Double) {
        self.values = values
        self.outliers = outliers
        self.noiseDeviation = noiseDeviation
    }

    /// The median (the lower middle element for an even count); reorders `values` (NaN-free).
    static func median(_ values: inout [Double]) -> Double {
        if values.count <= 32 {
            // The running windows (11 values, two medians per loss) by insertion sort: the library's sort
            // took most of this type's time there. Same order, so the same median.
            values.withUnsafeMutableBufferPointer { v in
                for i in v.indices.dropFirst() {
                    let value = v[i]
                    var j = i
                    while j > 0 && value < v[j - 1] {
                        v[j] = v[j - 1]
                        j -= 1
                    }
                    v[j] = value
                }
            }
            return values[(values.count - 1) / 2]
        }
        // A whole history's: by selection (its order is not needed).
        return OrderStatistic.select(&values, rank: (values.count - 1) / 2)
    }
}
