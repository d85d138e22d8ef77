import Foundation

/// The exact reference solver: dense kernel matrices and a Cholesky factorisation (LAPACK), cubic in the
/// number of points. Every faster solver is tested against this one.
public struct DenseCholeskySolver: GaussianProcessSolver {
    public init() {}

    public func marginalLogLikelihood(inputs: [Double], targets: [Double], lengthscale: Double) -> DenseMarginalLogLikelihood {
        DenseMarginalLogLikelihood(inputs: inputs, targets: targets, lengthscale: lengthscale)
    }

    public func posterior(inputs x: [Double], targets y: [Double], model: GaussianProcessModel, grid: [Double]) -> GridPosterior {
        let n = x.count, m = grid.count
        let kernel = model.kernel
        let s = kernel.outputscale
        var factor = DenseMarginalLogLikelihood.covariance(x, kernel: kernel, noise: model.likelihood.noise)
        guard n > 0, LinearAlgebra.choleskyFactor(&factor, n: n) else {
            return GridPosterior(mean: Array(repeating: model.mean.constant, count: m),
                                 variance: Array(repeating: s, count: m),
                                 covarianceWithLast: grid.map { kernel($0, grid[m - 1]) })
        }
        // alpha = K^-1 (y - theta)
        var alpha = y.map { $0 - model.mean.constant }
        LinearAlgebra.choleskySolve(factor, n: n, &alpha)
        // Cross-covariance K(X, S), n x m, column j = grid point j.
        var cross = [Double](repeating: 0, count: n * m)
        for j in 0..<m {
            for i in 0..<n { cross[j * n + i] = kernel(x[i], grid[j]) }
        }
        let mean = LinearAlgebra.transposedTimes(cross, rows: n, columns: m, alpha).map { $0 + model.mean.constant }
        // V = L^-1 K(X, S): Var f(s) = k(s, s) - |V_s|^2, Cov(f(s), f(1)) = k(s, 1) - V_s . V_1.
        LinearAlgebra.lowerTriangularSolve(factor, n: n, &cross, columns: m)
        var variance = [Double](repeating: 0, count: m)
        var covariance = [Double](repeating: 0, count: m)
        cross.withUnsafeBufferPointer { v in
            let last = UnsafeBufferPointer(rebasing: v[(m - 1) * n ..< m * n])
            for j in 0..<m {
                let column = UnsafeBufferPointer(rebasing: v[j * n ..< (j + 1) * n])
                variance[j] = s - LinearAlgebra.dot(column, column)
                covariance[j] = kernel(grid[j], grid[m - 1]) - LinearAlgebra.dot(column, last)
            }
        }
        return GridPosterior(mean: mean, variance: variance, covarianceWithLast: covariance)
    }
}

/// The exact marginal likelihood: K is rebuilt and factored at every evaluation (O(n^3)).
public struct DenseMarginalLogLikelihood: MarginalLogLikelihood {
    let targets: [Double]
    /// The unit-scale kernel matrix R (column-major, n x n): fixed while the fit runs.
    let correlation: [Double]
    public let count: Int

    init(inputs: [Double], targets: [Double], lengthscale: Double) {
        self.targets = targets
        self.count = inputs.count
        self.correlation = Self.covariance(inputs, kernel: SquaredExponentialKernel(lengthscale: lengthscale, outputscale: 1), noise: 0)
    }

    static func covariance(_ x: [Double], kernel: SquaredExponentialKernel, noise: Double) -> [Double] {
        let n = x.count
        var k = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            for i in 0..<n { k[j * n + i] = kernel(x[i], x[j]) }
            k[j * n + j] += noise
        }
        return k
    }

    public func lossAndGradient(_ model: GaussianProcessModel) -> (loss: Double, gradient: MarginalLikelihoodGradient) {
        let n = count
        let s = model.kernel.outputscale, noise = model.likelihood.noise
        var factor = correlation.map { $0 * s }
        for i in 0..<n { factor[i * n + i] += noise }
        guard LinearAlgebra.choleskyFactor(&factor, n: n) else {
            return (.infinity, MarginalLikelihoodGradient(constant: 0, outputscale: 0, noise: 0))
        }
        var logDeterminant = 0.0
        for i in 0..<n { logDeterminant += 2 * log(factor[i * n + i]) }
        let residual = targets.map { $0 - model.mean.constant }
        var alpha = residual
        LinearAlgebra.choleskySolve(factor, n: n, &alpha)
        var quadratic = 0.0, alphaSum = 0.0, alphaNorm = 0.0
        for i in 0..<n {
            quadratic += residual[i] * alpha[i]
            alphaSum += alpha[i]
            alphaNorm += alpha[i] * alpha[i]
        }
        // tr(K^-1), tr(K^-1 R) and alpha' R alpha from the inverse's lower triangle (both matrices symmetric).
        LinearAlgebra.choleskyInverse(&factor, n: n)
        var traceInverse = 0.0, traceInverseR = 0.0, alphaRAlpha = 0.0
        for j in 0..<n {
            traceInverse += factor[j * n + j]
            traceInverseR += factor[j * n + j] * correlation[j * n + j]
            alphaRAlpha += alpha[j] * alpha[j] * correlation[j * n + j]
            for i in (j + 1)..<n {
                traceInverseR += 2 * factor[j * n + i] * correlation[j * n + i]
                alphaRAlpha += 2 * alpha[i] * alpha[j] * correlation[j * n + i]
            }
        }
        let nd = Double(n)
        let loss = (0.5 * quadratic + 0.5 * logDeterminant + 0.5 * nd * log(2 * Double.pi)) / nd
        let gradient = MarginalLikelihoodGradient(
            constant: -alphaSum / nd,
            outputscale: 0.5 * (traceInverseR - alphaRAlpha) / nd,
            noise: 0.5 * (traceInverse - alphaNorm) / nd)
        return (loss, gradient)
    }
}
