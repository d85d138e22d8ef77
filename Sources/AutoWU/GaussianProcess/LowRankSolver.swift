import CLinAlg
import Foundation

/// The fast solver: the same answers as `DenseCholeskySolver` (the kernel is replaced by r features that
/// reproduce it to ~1e-15, see `KernelFeatures`), at O(n r^2) per data set instead of O(n^3), and O(r + n)
/// per evaluation of the fit's objective; r = 21 for the paper's lengthscale. Falls back to the dense
/// solver when the tolerance cannot be met with few features (lengthscales far below the paper's).
public struct LowRankSolver: GaussianProcessSolver {
    /// The largest residual variance e(x, x) the features may leave, at unit outputscale. 1e-14 is one
    /// order above the rounding floor of the pivoted Cholesky (~1e-15, where further pivots only add
    /// noise); for l = 0.2 the residual then falls from 7e-14 (r = 20) to 7e-16 (r = 21).
    public static let defaultTolerance = 1e-14

    public let tolerance: Double

    public init(tolerance: Double = LowRankSolver.defaultTolerance) {
        _ = LinearAlgebra.singleThreaded  // before any BLAS call of ours
        self.tolerance = tolerance
    }

    public func marginalLogLikelihood(inputs: [Double], targets: [Double], lengthscale: Double) -> LowRankMarginalLogLikelihood {
        LowRankMarginalLogLikelihood(inputs: inputs, targets: targets, lengthscale: lengthscale, tolerance: tolerance)
    }

    /// Weight-space view: f(x) = phi(x) . w, w ~ N(0, s I). With B = s Phi' Phi + sn2 I (r x r),
    /// Sigma_w = s sn2 B^-1 and E[w] = s B^-1 Phi' (y - theta). Unlike the function-space form
    /// (k(x, x) - k' K^-1 k) the variance phi' Sigma_w phi has no cancellation.
    public func posterior(inputs x: [Double], targets y: [Double], model: GaussianProcessModel, grid: [Double]) -> GridPosterior {
        let n = x.count, m = grid.count
        let kernel = model.kernel
        let s = kernel.outputscale, noise = model.likelihood.noise, theta = model.mean.constant
        _ = LinearAlgebra.singleThreaded
        guard n > 0 else { return DenseCholeskySolver().posterior(inputs: x, targets: y, model: model, grid: grid) }
        guard let basis = KernelFeatures.shared(lengthscale: kernel.lengthscale, tolerance: tolerance) else {
            return DenseCholeskySolver().posterior(inputs: x, targets: y, model: model, grid: grid)
        }
        let r = basis.rank
        let phi = basis.features(at: x)  // n x r
        var system = [Double](repeating: 0, count: r * r)
        phi.withUnsafeBufferPointer { f in
            system.withUnsafeMutableBufferPointer { b in
                cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, Int32(r), Int32(n), s, f.baseAddress, Int32(n),
                            0.0, b.baseAddress, Int32(r))
            }
        }
        for i in 0..<r { system[i * r + i] += noise }
        guard LinearAlgebra.choleskyFactor(&system, n: r) else {
            // Only with non-finite or negative hyper-parameters: let the reference decide what that means.
            return DenseCholeskySolver().posterior(inputs: x, targets: y, model: model, grid: grid)
        }
        var weights = LinearAlgebra.transposedTimes(phi, rows: n, columns: r, y.map { $0 - theta })
        LinearAlgebra.choleskySolve(system, n: r, &weights)
        for i in 0..<r { weights[i] *= s }

        let gridFeatures = basis.gridFeatures(grid)  // m x r
        // theta + phi . E[w]: exactly theta when y == theta, as the dense solver gives (flat means tie alike).
        let mean = LinearAlgebra.times(gridFeatures, rows: m, columns: r, weights).map { theta + $0 }
        // W = G L_B^-T: Var f(x_j) = s sn2 |W_j|^2, Cov(f(x_j), f(1)) = s sn2 W_j . W_last (rows of W).
        var whitened = gridFeatures
        whitened.withUnsafeMutableBufferPointer { w in
            system.withUnsafeBufferPointer { l in
                cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(m), Int32(r), 1.0,
                            l.baseAddress, Int32(r), w.baseAddress, Int32(m))
            }
        }
        let scale = s * noise
        var variance = [Double](repeating: 0, count: m)
        var covariance = [Double](repeating: 0, count: m)
        whitened.withUnsafeBufferPointer { w in
            variance.withUnsafeMutableBufferPointer { v in
                covariance.withUnsafeMutableBufferPointer { c in
                    for i in 0..<r {
                        let column = w.baseAddress! + i * m
                        let last = column[m - 1]
                        for j in 0..<m {
                            v[j] += column[j] * column[j]
                            c[j] += column[j] * last
                        }
                    }
                    for j in 0..<m {
                        v[j] *= scale
                        c[j] *= scale
                    }
                }
            }
        }
        return GridPosterior(mean: mean, variance: variance, covarianceWithLast: covariance)
    }
}

/// The marginal likelihood of `DenseMarginalLogLikelihood` with R replaced by Phi Phi' (Phi: n x r).
///
/// Prepared once per data set: Phi = Q [R; 0] (Householder QR), R = W diag(sigma) V' (SVD). Then
/// K = s Phi Phi' + sn2 I has eigenvalues s sigma_i^2 + sn2 on the columns of Q W and sn2 on the rest, and every
/// term of the loss and its gradient is a sum over those eigen-directions: O(n) per evaluation, no
/// factorisation. y - c and 1 are rotated by Q' once; the part orthogonal to span(Phi) is kept as the
/// trailing coordinates of Q' (y - c) rather than as |y|^2 - |U' y|^2, which would cancel catastrophically
/// (it is divided by sn2 >= 1e-4 and y is usually almost in the span).
///
/// c is one of the targets (the one nearest their mean), so r = (y - c) - (theta - c) 1 is accurate
/// relative to the data's spread, and exactly 0 when the targets are all equal to theta, as the dense
/// r = y - theta is. That matters: around such a flat optimum Adam (eps 1e-8) multiplies any non-zero
/// theta-gradient by ~1e9 per step, so rounding noise where the exact solver has exactly 0 would send the
/// fit elsewhere.
public struct LowRankMarginalLogLikelihood: MarginalLogLikelihood {
    public let count: Int
    /// lambda_i = sigma_i^2: the non-zero part of Phi Phi''s spectrum (k = min(n, r) values).
    let eigenvalues: [Double]
    /// c: the target the others are taken relative to.
    let reference: Double
    /// (Q W)' (y - c) and (Q W)' 1.
    let targetCoordinates: [Double]
    let onesCoordinates: [Double]
    /// The trailing n - k coordinates of Q' (y - c) and Q' 1: their parts orthogonal to span(Phi).
    let targetRemainder: [Double]
    let onesRemainder: [Double]
    /// Set when the features cannot meet the tolerance (see `KernelFeatures.shared`).
    let dense: DenseMarginalLogLikelihood?

    init(inputs x: [Double], targets y: [Double], lengthscale: Double, tolerance: Double) {
        let n = x.count
        count = n
        guard n > 0, let basis = KernelFeatures.shared(lengthscale: lengthscale, tolerance: tolerance) else {
            dense = DenseMarginalLogLikelihood(inputs: x, targets: y, lengthscale: lengthscale)
            reference = 0
            (eigenvalues, targetCoordinates, onesCoordinates, targetRemainder, onesRemainder) = ([], [], [], [], [])
            return
        }
        dense = nil
        _ = LinearAlgebra.singleThreaded
        let r = basis.rank, k = min(n, r)
        var phi = basis.features(at: x)  // n x r
        var tau = [Double](repeating: 0, count: k)
        _ = phi.withUnsafeMutableBufferPointer { a in
            tau.withUnsafeMutableBufferPointer { t in
                LAPACKE_dgeqrf(LAPACK_COL_MAJOR, Int32(n), Int32(r), a.baseAddress, Int32(n), t.baseAddress)
            }
        }
        // R (k x r, upper trapezoidal) = W diag(sigma) V': an SVD rather than an eigendecomposition of R R',
        // so that the small lambda_i = sigma_i^2 (those where K ~ sn2, weighted by 1 / sn2^2 in the gradient)
        // carry an error ~eps sigma_i sigma_max instead of ~eps lambda_max.
        var upper = [Double](repeating: 0, count: k * r)
        for j in 0..<r {
            for i in 0...min(j, k - 1) { upper[j * k + i] = phi[j * n + i] }
        }
        var sigma = [Double](repeating: 0, count: k)
        var left = [Double](repeating: 0, count: k * k)  // W
        var unused = [Double](repeating: 0, count: 1)
        var superb = [Double](repeating: 0, count: max(1, k))
        let info = upper.withUnsafeMutableBufferPointer { a in
            sigma.withUnsafeMutableBufferPointer { sv in
                left.withUnsafeMutableBufferPointer { u in
                    unused.withUnsafeMutableBufferPointer { vt in
                        superb.withUnsafeMutableBufferPointer { sb in
                            LAPACKE_dgesvd(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "S")), CChar(UInt8(ascii: "N")),
                                           Int32(k), Int32(r), a.baseAddress, Int32(k), sv.baseAddress,
                                           u.baseAddress, Int32(k), vt.baseAddress, 1, sb.baseAddress)
                        }
                    }
                }
            }
        }
        let lambda = info == 0 ? sigma.map { $0 * $0 } : [Double](repeating: .nan, count: k)
        let mean = y.reduce(0, +) / Double(n)
        let reference = y.min { abs($0 - mean) < abs($1 - mean) } ?? 0
        self.reference = reference
        // Q' [y - c, 1] (n x 2).
        var rotated = y.map { $0 - reference } + [Double](repeating: 1, count: n)
        _ = phi.withUnsafeBufferPointer { a in
            tau.withUnsafeBufferPointer { t in
                rotated.withUnsafeMutableBufferPointer { c in
                    LAPACKE_dormqr(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), CChar(UInt8(ascii: "T")), Int32(n), 2,
                                   Int32(k), a.baseAddress, Int32(n), t.baseAddress, c.baseAddress, Int32(n))
                }
            }
        }
        eigenvalues = lambda
        targetCoordinates = LinearAlgebra.transposedTimes(left, rows: k, columns: k, Array(rotated[0..<k]))
        onesCoordinates = LinearAlgebra.transposedTimes(left, rows: k, columns: k, Array(rotated[n..<(n + k)]))
        targetRemainder = Array(rotated[k..<n])
        onesRemainder = Array(rotated[(n + k)...])
    }

    /// The same definitions as `DenseMarginalLogLikelihood.lossAndGradient`, term by term, with
    /// K^-1 = U diag(1 / e) U' + (I - U U') / sn2, e_i = s lambda_i + sn2, U = Q W.
    public func lossAndGradient(_ model: GaussianProcessModel) -> (loss: Double, gradient: MarginalLikelihoodGradient) {
        if let dense { return dense.lossAndGradient(model) }
        let n = count
        let s = model.kernel.outputscale, noise = model.likelihood.noise
        let shift = model.mean.constant - reference
        // K must be positive definite, as the dense Cholesky requires.
        guard noise > 0, eigenvalues.allSatisfy({ s * $0 + noise > 0 }) else {
            return (.infinity, MarginalLikelihoodGradient(constant: 0, outputscale: 0, noise: 0))
        }
        // alpha = K^-1 r; in U's coordinates alpha_i = a_i / e_i, off U's span alpha = p / sn2.
        var quadratic = 0.0, logDeterminant = 0.0, alphaSum = 0.0, alphaNorm = 0.0
        var traceInverse = 0.0, traceInverseR = 0.0, alphaRAlpha = 0.0
        for i in eigenvalues.indices {
            let lambda = eigenvalues[i]
            let e = s * lambda + noise
            let a = targetCoordinates[i] - shift * onesCoordinates[i]
            let alpha = a / e
            quadratic += a * alpha
            logDeterminant += log(e)
            alphaSum += onesCoordinates[i] * alpha
            alphaNorm += alpha * alpha
            traceInverse += 1 / e
            traceInverseR += lambda / e
            alphaRAlpha += lambda * alpha * alpha
        }
        var remainderNorm = 0.0, remainderSum = 0.0
        for j in targetRemainder.indices {
            let p = targetRemainder[j] - shift * onesRemainder[j]
            remainderNorm += p * p
            remainderSum += onesRemainder[j] * p
        }
        let rest = Double(targetRemainder.count)
        quadratic += remainderNorm / noise
        logDeterminant += rest * log(noise)
        alphaSum += remainderSum / noise
        alphaNorm += remainderNorm / (noise * noise)
        traceInverse += rest / noise

        let nd = Double(n)
        let loss = (0.5 * quadratic + 0.5 * logDeterminant + 0.5 * nd * log(2 * Double.pi)) / nd
        let gradient = MarginalLikelihoodGradient(
            constant: -alphaSum / nd,
            outputscale: 0.5 * (traceInverseR - alphaRAlpha) / nd,
            noise: 0.5 * (traceInverse - alphaNorm) / nd)
        return (loss, gradient)
    }
}
