/// The partial derivatives of the training loss with respect to the natural parameters.
public struct MarginalLikelihoodGradient: Sendable, Equatable {
    public var constant: Double
    public var outputscale: Double
    public var noise: Double

    public init(constant: Double, outputscale: Double, noise: Double) {
        self.constant = constant
        self.outputscale = outputscale
        self.noise = noise
    }
}

/// The exact marginal log-likelihood of one data set, as a training loss:
///
///     loss = -log p(y) / n = (r' K^-1 r / 2 + log det K / 2 + n log(2 pi) / 2) / n,
///     r = y - theta,  K = outputscale * R + noise * I
///
/// (GPyTorch's `ExactMarginalLogLikelihood`, negated). A solver prepares it once per data set; the fit then
/// evaluates it at many parameter values.
public protocol MarginalLogLikelihood {
    var count: Int { get }
    func lossAndGradient(_ model: GaussianProcessModel) -> (loss: Double, gradient: MarginalLikelihoodGradient)
}
