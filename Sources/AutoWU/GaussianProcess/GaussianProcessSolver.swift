/// The linear algebra behind the minimum test, behind one small interface so that a second solver can be
/// added without touching the test or the controller. Inputs are sorted points of [0, 1].
public protocol GaussianProcessSolver: Sendable {
    associatedtype Likelihood: MarginalLogLikelihood
    /// The training objective for data (x, y), prepared once and evaluated many times by the fit.
    func marginalLogLikelihood(inputs: [Double], targets: [Double], lengthscale: Double) -> Likelihood
    /// The posterior of f given (x, y) under `model`, on `grid` (whose last point is x = 1).
    func posterior(inputs: [Double], targets: [Double], model: GaussianProcessModel, grid: [Double]) -> GridPosterior
}

