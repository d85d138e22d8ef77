/// The posterior of one end-of-epoch test, for the eye: the voting posteriors pooled as an equal mixture, on
/// at most `maximumPoints` of the test's grid, in the losses' own units (the robust test's standardisation
/// undone). The test pools it as it votes (`PosteriorPool`), so keeping it costs no second GP solve.
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

    enum CodingKeys: String, CodingKey { case steps, mean, deviation }

    /// Stored as raw doubles (three numbers arrays took most of a test's time to encode); posteriors stored
    /// as arrays of numbers before are read too.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try RawDoubles.decode(from: c.superDecoder(forKey: .steps), legacy: .numberArray)
        mean = try RawDoubles.decode(from: c.superDecoder(forKey: .mean), legacy: .numberArray)
        deviation = try RawDoubles.decode(from: c.superDecoder(forKey: .deviation), legacy: .numberArray)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try RawDoubles.encode(steps, to: c.superEncoder(forKey: .steps))
        try RawDoubles.encode(mean, to: c.superEncoder(forKey: .mean))
        try RawDoubles.encode(deviation, to: c.superEncoder(forKey: .deviation))
    }
}

/// Pools the voting posteriors of a test into a `TestPosterior` while the test runs.
struct PosteriorPool {
    /// The grid points kept: both ends and evenly spread indices between them.
    let indices: [Int]
    private var sumMean: [Double]
    private var sumSecond: [Double]
    private var count = 0

    init(gridCount: Int, points: Int = TestPosterior.maximumPoints) {
        let kept = min(points, gridCount)
        indices = kept < 2 ? Array(0..<gridCount)
            : (0..<kept).map { Int((Double($0) * Double(gridCount - 1) / Double(kept - 1)).rounded()) }
        sumMean = Array(repeating: 0, count: indices.count)
        sumSecond = sumMean
    }

    mutating func add(_ posterior: GridPosterior) {
        for (k, j) in indices.enumerated() {
            let mean = posterior.mean[j]
            sumMean[k] += mean
            sumSecond[k] += posterior.variance[j] + mean * mean
        }
        count += 1
    }

    /// The mixture on the kept points of `grid`, for `n` losses standardised as `(loss - center) / scale`.
    func posterior(grid: [Double], n: Double, center: Double, scale: Double) -> TestPosterior? {
        guard count > 0, indices.count >= 2 else { return nil }
        let c = Double(count)
        let mean = sumMean.map { $0 / c }
        let deviation = mean.indices.map { k in max(0, sumSecond[k] / c - mean[k] * mean[k]).squareRoot() * scale }
        let result = TestPosterior(steps: indices.map { grid[$0] * n }, mean: mean.map { center + scale * $0 }, deviation: deviation)
        return result.mean.allSatisfy(\.isFinite) && result.deviation.allSatisfy(\.isFinite) ? result : nil
    }
}
