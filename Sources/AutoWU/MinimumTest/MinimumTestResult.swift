/// The figures of one end-of-epoch test: enough to see what was decided and why.
public struct MinimumTestResult: Sendable, Equatable, Codable {
    /// P_min(f_i) of Eq. 4, one per posterior subset.
    public var pMin: [Double]
    /// argmin_x of the posterior mean of f_i on the grid, one per subset.
    public var argminX: [Double]
    /// How many P_min exceed the confidence c.
    public var votes: Int
    /// More than half of the subsets voted.
    public var positive: Bool
    /// Finite losses the test saw (NaN/inf are dropped but keep their index).
    public var finitePoints: Int
    /// The fitted hyper-parameters the posteriors used.
    public var model: GaussianProcessModel?
    /// The fit's training loss (-log p / n) at its start and end.
    public var fitLoss: [Double]
    /// Finite losses the robust test set aside as outliers.
    public var outliers = 0
    /// Why the test could not be trusted (it is then negative); nil for a sound test.
    public var note: String?
    /// The robust test's noise deviation of the raw losses (nil for the paper's test).
    public var noiseDeviation: Double?
    /// The voting posteriors pooled, for plots and history (nil for a test that drew none). Not part of the
    /// result's coded form: the store keeps it beside the verdict, replay's JSON leaves it out.
    public var posterior: TestPosterior?

    enum CodingKeys: String, CodingKey {
        case pMin, argminX, votes, positive, finitePoints, model, fitLoss, outliers, note, noiseDeviation
    }

    /// mean_i argmin_x: t* / t of Eq. 5.
    public var meanArgmin: Double {
        argminX.reduce(0, +) / Double(argminX.count)
    }
}
