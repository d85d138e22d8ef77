/// Fits theta, sigma_f and sigma_n by Adam on the marginal likelihood (DESIGN Sec. 3): a fixed number of
/// steps from a warm start, as the reference does; no convergence test, so the result is deterministic.
public struct HyperparameterFit: Sendable, Equatable, Codable {
    public var parameters: RawHyperparameters
    public var optimizer: AdamOptimizer

    public init(parameters: RawHyperparameters, optimizer: AdamOptimizer) {
        self.parameters = parameters
        self.optimizer = optimizer
    }

    /// Runs `steps` Adam steps on `objective`; returns the loss at the start and at the end.
    @discardableResult
    public mutating func run(on objective: some MarginalLogLikelihood, steps: Int, lengthscale: Double, noiseFloor: Double) -> (initialLoss: Double, finalLoss: Double) {
        var vector = parameters.vector
        var initialLoss = Double.nan
        for step in 0..<steps {
            let current = RawHyperparameters(vector)
            let (loss, gradient) = objective.lossAndGradient(current.model(lengthscale: lengthscale, noiseFloor: noiseFloor))
            if step == 0 { initialLoss = loss }
            optimizer.update(&vector, gradient: current.rawGradient(gradient))
        }
        parameters = RawHyperparameters(vector)
        let finalLoss = objective.lossAndGradient(parameters.model(lengthscale: lengthscale, noiseFloor: noiseFloor)).loss
        return (steps == 0 ? finalLoss : initialLoss, finalLoss)
    }
}
