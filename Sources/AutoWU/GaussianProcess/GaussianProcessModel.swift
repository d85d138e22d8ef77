/// The smoother of the minimum test: constant mean, scaled squared-exponential kernel, Gaussian noise.
public struct GaussianProcessModel: Sendable, Equatable, Codable {
    public var mean: ConstantMean
    public var kernel: SquaredExponentialKernel
    public var likelihood: GaussianLikelihood

    public init(mean: ConstantMean, kernel: SquaredExponentialKernel, likelihood: GaussianLikelihood) {
        self.mean = mean
        self.kernel = kernel
        self.likelihood = likelihood
    }
}

/// The unconstrained values Adam moves, as GPyTorch keeps them: theta as is, the outputscale as
/// softplus(raw), the noise as floor + softplus(raw) so it can never fall below the floor.
public struct RawHyperparameters: Sendable, Equatable, Codable {
    public var constant: Double
    public var rawOutputscale: Double
    public var rawNoise: Double

    public init(constant: Double, rawOutputscale: Double, rawNoise: Double) {
        self.constant = constant
        self.rawOutputscale = rawOutputscale
        self.rawNoise = rawNoise
    }

    /// The reference's starting point: outputscale softplus(0) = ln 2, noise `initialNoise`.
    public init(constant: Double, initialNoise: Double, noiseFloor: Double) {
        self.init(constant: constant, rawOutputscale: 0, rawNoise: Softplus.inverse(initialNoise - noiseFloor))
    }

    public var vector: [Double] { [constant, rawOutputscale, rawNoise] }

    public init(_ vector: [Double]) {
        self.init(constant: vector[0], rawOutputscale: vector[1], rawNoise: vector[2])
    }

    public func model(lengthscale: Double, noiseFloor: Double) -> GaussianProcessModel {
        GaussianProcessModel(
            mean: ConstantMean(constant: constant),
            kernel: SquaredExponentialKernel(lengthscale: lengthscale, outputscale: Softplus.value(rawOutputscale)),
            likelihood: GaussianLikelihood(noise: noiseFloor + Softplus.value(rawNoise)))
    }

    /// Chain rule from the gradient in the natural parameters to the raw ones.
    public func rawGradient(_ g: MarginalLikelihoodGradient) -> [Double] {
        [g.constant, g.outputscale * Softplus.derivative(rawOutputscale), g.noise * Softplus.derivative(rawNoise)]
    }
}
