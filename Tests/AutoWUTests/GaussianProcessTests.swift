import Foundation
import Testing
@testable import AutoWU

@Suite struct GaussianProcessTests {
    let model = GaussianProcessModel(mean: ConstantMean(constant: 0.7),
                                     kernel: SquaredExponentialKernel(lengthscale: 0.2, outputscale: 0.9),
                                     likelihood: GaussianLikelihood(noise: 0.05))

    /// Two points worked by hand: K = [[a, b], [b, a]], K^-1 = [[a, -b], [-b, a]] / (a^2 - b^2).
    @Test func marginalLikelihoodOfTwoPointsMatchesTheClosedForm() {
        let x = [0.1, 0.4], y = [1.2, 0.3]
        let s = 0.9, noise = 0.05, theta = 0.7
        let a = s + noise, b = s * exp(-0.5 * pow(0.3 / 0.2, 2))
        let det = a * a - b * b
        let r = y.map { $0 - theta }
        let quadratic = (a * (r[0] * r[0] + r[1] * r[1]) - 2 * b * r[0] * r[1]) / det
        let expected = (0.5 * quadratic + 0.5 * log(det) + log(2 * Double.pi)) / 2
        let objective = DenseCholeskySolver().marginalLogLikelihood(inputs: x, targets: y, lengthscale: 0.2)
        let (loss, gradient) = objective.lossAndGradient(model)
        #expect(relativeDifference(loss, expected) < 1e-13)
        // d/dtheta = -sum(K^-1 r) / n
        let alpha = [(a * r[0] - b * r[1]) / det, (a * r[1] - b * r[0]) / det]
        #expect(relativeDifference(gradient.constant, -(alpha[0] + alpha[1]) / 2) < 1e-12)
    }

    /// One data point: the posterior is a rank-one update of the prior.
    @Test func posteriorOfOnePointMatchesTheClosedForm() {
        let x0 = 0.3, y0 = 1.5
        let grid = MinimumTestSettings().grid
        let posterior = DenseCholeskySolver().posterior(inputs: [x0], targets: [y0], model: model, grid: grid)
        let s = 0.9, k = s + 0.05
        let rho = { (u: Double, v: Double) in exp(-0.5 * pow((u - v) / 0.2, 2)) }
        for j in [0, 100, 149, 250, 498, 499] {
            let g = grid[j]
            #expect(abs(posterior.mean[j] - (0.7 + s * rho(g, x0) * (y0 - 0.7) / k)) < 1e-14)
            #expect(abs(posterior.variance[j] - (s - s * s * rho(g, x0) * rho(g, x0) / k)) < 1e-14)
            #expect(abs(posterior.covarianceWithLast[j] - (s * rho(g, 1) - s * s * rho(g, x0) * rho(1, x0) / k)) < 1e-14)
        }
    }

    @Test func gradientMatchesFiniteDifferences() {
        var random = TestRandom(seed: 7)
        let n = 40
        let x = (0..<n).map { Double($0) / Double(n) }
        let y = x.map { 2 * ($0 - 0.6) * ($0 - 0.6) + 0.1 * random.normal() }
        let objective = DenseCholeskySolver().marginalLogLikelihood(inputs: x, targets: y, lengthscale: 0.2)
        for raw in [RawHyperparameters(constant: 0.3, rawOutputscale: 0, rawNoise: -3),
                    RawHyperparameters(constant: -0.2, rawOutputscale: 1.5, rawNoise: -7)] {
            let at = { (r: RawHyperparameters) in objective.lossAndGradient(r.model(lengthscale: 0.2, noiseFloor: 1e-4)) }
            let analytic = raw.rawGradient(at(raw).gradient)
            for i in 0..<3 {
                let h = 1e-6
                var plus = raw.vector, minus = raw.vector
                plus[i] += h
                minus[i] -= h
                let numeric = (at(RawHyperparameters(plus)).loss - at(RawHyperparameters(minus)).loss) / (2 * h)
                #expect(abs(numeric - analytic[i]) <= 1e-6 * max(1, abs(analytic[i])), "component \(i): \(numeric) vs \(analytic[i])")
            }
        }
    }

    @Test func softplusAndItsInverseAgree() {
        for y in [1e-8, 9e-4, 0.5, log(2), 3, 40, 800] {
            #expect(relativeDifference(Softplus.value(Softplus.inverse(y)), y) < 1e-12)
        }
        #expect(Softplus.value(0) == log(2))
        #expect(Softplus.value(1000) == 1000)
    }

    @Test func adamFollowsTorchOnAQuadratic() {
        // One step of Adam moves every coordinate by lr against the gradient's sign (bias-corrected m / sqrt(v) = sign).
        var adam = AdamOptimizer(dimension: 2, learningRate: 0.01)
        var p = [1.0, -2.0]
        adam.update(&p, gradient: [4.0, -0.5])
        #expect(abs(p[0] - (1.0 - 0.01)) < 1e-9)
        #expect(abs(p[1] - (-2.0 + 0.01)) < 1e-9)
        #expect(adam.step == 1)
    }

    @Test func fittingLowersTheLoss() {
        var random = TestRandom(seed: 3)
        let x = (0..<100).map { Double($0) / 100 }
        let y = x.map { sin(6 * $0) + 0.05 * random.normal() }
        let objective = DenseCholeskySolver().marginalLogLikelihood(inputs: x, targets: y, lengthscale: 0.2)
        var fit = HyperparameterFit(parameters: RawHyperparameters(constant: y.reduce(0, +) / 100, initialNoise: 1e-3, noiseFloor: 1e-4),
                                    optimizer: AdamOptimizer(dimension: 3))
        let (initial, final) = fit.run(on: objective, steps: 100, lengthscale: 0.2, noiseFloor: 1e-4)
        #expect(final < initial)
        #expect(fit.optimizer.step == 100)
    }
}
