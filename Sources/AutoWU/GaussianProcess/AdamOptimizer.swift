import Foundation

/// Adam as `torch.optim.Adam` computes it, with its whole state Codable: the reference carries the moments
/// and the step count from one test to the next (a warm start), so a restored controller must too.
public struct AdamOptimizer: Sendable, Equatable, Codable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public private(set) var step: Int
    public private(set) var firstMoment: [Double]
    public private(set) var secondMoment: [Double]

    public init(dimension: Int, learningRate: Double = 0.01, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.step = 0
        self.firstMoment = Array(repeating: 0, count: dimension)
        self.secondMoment = Array(repeating: 0, count: dimension)
    }

    public mutating func update(_ parameters: inout [Double], gradient: [Double]) {
        precondition(parameters.count == firstMoment.count && gradient.count == firstMoment.count)
        step += 1
        let biasCorrection1 = 1 - pow(beta1, Double(step))
        let biasCorrection2 = 1 - pow(beta2, Double(step))
        let stepSize = learningRate / biasCorrection1
        for i in parameters.indices {
            firstMoment[i] = beta1 * firstMoment[i] + (1 - beta1) * gradient[i]
            secondMoment[i] = beta2 * secondMoment[i] + (1 - beta2) * gradient[i] * gradient[i]
            let denominator = secondMoment[i].squareRoot() / biasCorrection2.squareRoot() + epsilon
            parameters[i] -= stepSize * firstMoment[i] / denominator
        }
    }
}
