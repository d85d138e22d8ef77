/// What the minimum test needs of the posterior of f (without noise) on the grid S: the mean, the variance
/// at every grid point, and the covariance of every grid point with the last one (x = 1, "now").
public struct GridPosterior: Sendable, Equatable {
    public var mean: [Double]
    public var variance: [Double]
    public var covarianceWithLast: [Double]

    public init(mean: [Double], variance: [Double], covarianceWithLast: [Double]) {
        self.mean = mean
        self.variance = variance
        self.covarianceWithLast = covarianceWithLast
    }
}
