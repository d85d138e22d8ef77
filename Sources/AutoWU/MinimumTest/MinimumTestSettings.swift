/// Which losses the test fits (docs/decisions.md).
public enum MinimumTestKind: String, Sendable, Equatable, Codable, CaseIterable {
    /// Isolated outliers set aside and the history standardised first (`RobustLosses`): scale-free, and one
    /// bad step cannot fool it. The default.
    case robust
    /// The paper's test exactly: every finite loss as it is, in absolute units.
    case paper
}

/// The hyper-parameters of the minimum test and of its GP (the paper's and the reference's values).
public struct MinimumTestSettings: Sendable, Equatable, Codable {
    public var kind: MinimumTestKind = .robust
    /// The robust test's outlier rule: losses farther than `outlierThreshold` robust noise deviations from
    /// the median of their `outlierWindow` neighbours are set aside.
    public var outlierWindow = 11
    public var outlierThreshold = 6.0
    /// The robust test is negative on fewer finite losses than this: the noise scale it standardises by is
    /// a median of deviations, and on a handful of losses it can come out several times too small, which
    /// turns plain noise into a "minimum" (a 3-step epoch switched on 6 flat losses).
    public var minimumLosses = 33
    /// n_test: the number of posterior subsets C1..C_n that vote.
    public var testCount = 5
    /// c: a subset votes "minimum in the past" when its P_min exceeds this.
    public var confidence = 0.95
    /// |C0| at most: the points the hyper-parameters are fitted on.
    public var fitSubsetSize = 100
    /// |C_i| at most, i >= 1: the points each posterior is conditioned on.
    public var testSubsetSize = 500
    /// |S|: equally spaced points of [0, 1] on which P_min and the argmin are taken.
    public var gridSize = 500
    /// l, fixed.
    public var lengthscale = 0.2
    /// The lower bound of the noise variance.
    public var noiseFloor = 1e-4
    /// The noise variance before the first fit.
    public var initialNoise = 1e-3
    /// Adam's step size and number of steps per fit.
    public var fitLearningRate = 0.01
    public var fitSteps = 100
    /// Added to the variance of f(x) - f(1) in Eq. 4, as the reference does.
    public var differenceJitter = 1e-4

    public init() {}

    /// The settings of the paper's test.
    public static var paper: MinimumTestSettings {
        var settings = MinimumTestSettings()
        settings.kind = .paper
        return settings
    }

    enum CodingKeys: String, CodingKey {
        case kind, outlierWindow, outlierThreshold, minimumLosses, testCount, confidence, fitSubsetSize, testSubsetSize, gridSize
        case lengthscale, noiseFloor, initialNoise, fitLearningRate, fitSteps, differenceJitter
    }

    /// Settings persisted before the robust test existed decode as the paper's test they ran.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decodeIfPresent(MinimumTestKind.self, forKey: .kind) ?? .paper
        outlierWindow = try c.decodeIfPresent(Int.self, forKey: .outlierWindow) ?? outlierWindow
        outlierThreshold = try c.decodeIfPresent(Double.self, forKey: .outlierThreshold) ?? outlierThreshold
        // Stored before the floor existed: those robust tests ran without one.
        minimumLosses = try c.decodeIfPresent(Int.self, forKey: .minimumLosses) ?? 0
        testCount = try c.decode(Int.self, forKey: .testCount)
        confidence = try c.decode(Double.self, forKey: .confidence)
        fitSubsetSize = try c.decode(Int.self, forKey: .fitSubsetSize)
        testSubsetSize = try c.decode(Int.self, forKey: .testSubsetSize)
        gridSize = try c.decode(Int.self, forKey: .gridSize)
        lengthscale = try c.decode(Double.self, forKey: .lengthscale)
        noiseFloor = try c.decode(Double.self, forKey: .noiseFloor)
        initialNoise = try c.decode(Double.self, forKey: .initialNoise)
        fitLearningRate = try c.decode(Double.self, forKey: .fitLearningRate)
        fitSteps = try c.decode(Int.self, forKey: .fitSteps)
        differenceJitter = try c.decode(Double.self, forKey: .differenceJitter)
    }

    public func validate() throws {
        try require(outlierWindow >= 3, "the outlier window must hold at least 3 losses, got \(outlierWindow)")
        try require(outlierThreshold.isFinite && outlierThreshold >= 1, "the outlier threshold must be a number >= 1, got \(outlierThreshold)")
        try require(minimumLosses >= 0, "the robust test's minimum number of losses cannot be negative, got \(minimumLosses)")
        try require(testCount >= 1, "n_test must be at least 1, got \(testCount)")
        try require(confidence > 0 && confidence < 1, "the confidence c must lie strictly between 0 and 1, got \(confidence)")
        try require(fitSubsetSize >= 1, "the fit subset size must be at least 1, got \(fitSubsetSize)")
        try require(testSubsetSize >= 1, "the test subset size must be at least 1, got \(testSubsetSize)")
        try require(gridSize >= 2, "the grid needs at least 2 points, got \(gridSize)")
        try require(lengthscale.isFinite && lengthscale > 0, "the lengthscale must be positive, got \(lengthscale)")
        try require(noiseFloor.isFinite && noiseFloor > 0, "the noise floor must be positive, got \(noiseFloor)")
        try require(initialNoise.isFinite && initialNoise > noiseFloor, "the initial noise must exceed the noise floor (\(noiseFloor)), got \(initialNoise)")
        try require(fitLearningRate.isFinite && fitLearningRate > 0, "the fit's learning rate must be positive, got \(fitLearningRate)")
        try require(fitSteps >= 0, "the fit's number of steps cannot be negative, got \(fitSteps)")
        try require(differenceJitter.isFinite && differenceJitter >= 0, "the P_min jitter cannot be negative, got \(differenceJitter)")
    }

    /// S: `gridSize` equally spaced points from 0 to exactly 1.
    public var grid: [Double] {
        (0..<gridSize).map { Double($0) / Double(gridSize - 1) }
    }
}
