/// The posterior of one end-of-epoch test, for the eye: the five voting posteriors pooled as an equal
/// mixture, on a coarse grid, in the losses' own units (the robust test's standardisation undone).
public struct TestPosterior: Sendable, Equatable, Codable {
    /// Steps: x * N for the N losses the test saw.
    public var steps: [Double]
    public var mean: [Double]
    /// The mixture's standard deviation of f (without the observation noise).
    public var deviation: [Double]

    /// Enough for a plot; keeps a stored posterior to a few kilobytes.
    public static let maximumPoints = 200

    public init(steps: [Double], mean: [Double], deviation: [Double]) {
        self.steps = steps
        self.mean = mean
        self.deviation = deviation
    }
}

extension MinimumTest {
    /// The posterior of the test that `run(losses:fit:sampler:)` made with `model` from `sampler` (its state
    /// before that test): the same transformed losses and the same subsets, on `points` grid points.
    public func pooledPosterior(losses rawLosses: [Double], model: GaussianProcessModel, sampler: SubsetSampler,
                                points: Int = TestPosterior.maximumPoints) -> TestPosterior? {
        var losses = rawLosses, center = 0.0, scale = 1.0
        if settings.kind == .robust {
            let robust = RobustLosses(rawLosses, window: settings.outlierWindow, threshold: settings.outlierThreshold,
                                      targetNoiseVariance: settings.initialNoise)
            (losses, center, scale) = (robust.values, robust.center, robust.scale)
        }
        let finite = losses.indices.filter { losses[$0].isFinite }
        guard !finite.isEmpty, points >= 2 else { return nil }
        var sampler = sampler
        let n = Double(losses.count)
        let grid = (0..<points).map { Double($0) / Double(points - 1) }
        var sumMean = [Double](repeating: 0, count: points), sumSecond = sumMean
        let tests = drawSubsets(finite: finite, sampler: &sampler).tests
        for subset in tests {
            let posterior = solver.posterior(inputs: subset.map { Double($0) / n }, targets: subset.map { losses[$0] },
                                             model: model, grid: grid)
            for j in 0..<points {
                sumMean[j] += posterior.mean[j]
                sumSecond[j] += posterior.variance[j] + posterior.mean[j] * posterior.mean[j]
            }
        }
        let count = Double(tests.count)
        let mean = sumMean.map { $0 / count }
        let deviation = (0..<points).map { j in max(0, sumSecond[j] / count - mean[j] * mean[j]).squareRoot() * scale }
        let result = TestPosterior(steps: grid.map { $0 * n }, mean: mean.map { center + scale * $0 }, deviation: deviation)
        guard result.mean.allSatisfy(\.isFinite), result.deviation.allSatisfy(\.isFinite) else { return nil }
        return result
    }
}
