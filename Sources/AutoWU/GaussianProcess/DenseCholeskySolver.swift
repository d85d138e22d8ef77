import Foundation

/// The exact reference solver: dense kernel matrices and a Cholesky factorisation (LAPACK), cubic in the
/// number of points. Every faster solver is tested against this one.
///
/// Exact, but not naive: one Cholesky pass factors K and applies L^-1 to K(X, S) at once (recursively
/// blocked, see `LinearAlgebra.choleskyFactor(_:n:rowsBelow:leadingDimension:leaf:)`), only one triangle of
/// K is built, the kernel is evaluated eight entries at a time by a vectorised exp (within 1 ulp of the C
/// library's), and the fit's evaluations need no O(n^3) work beyond the factor and its inverse.
public struct DenseCholeskySolver: GaussianProcessSolver {
    public init() { _ = LinearAlgebra.singleThreaded }

    public func marginalLogLikelihood(inputs: [Double], targets: [Double], lengthscale: Double) -> DenseMarginalLogLikelihood {
        DenseMarginalLogLikelihood(inputs: inputs, targets: targets, lengthscale: lengthscale)
    }

    public func posterior(inputs x: [Double], targets y: [Double], model: GaussianProcessModel, grid: [Double]) -> GridPosterior {
        let n = x.count, m = grid.count
        let kernel = model.kernel
        let s = kernel.outputscale, theta = model.mean.constant
        let prior = {
            GridPosterior(mean: Array(repeating: theta, count: m), variance: Array(repeating: s, count: m),
                          covarianceWithLast: grid.map { kernel($0, grid[m - 1]) })
        }
        guard n > 0, m > 0 else { return prior() }
        // One column-major matrix [K; K(S, X); (y - theta)'] ((n + m + 1) x n, K's lower triangle): the
        // Cholesky pass factors K = L L' and leaves V' = K(S, X) L^-T and w' = (L^-1 (y - theta))' below L.
        // Then mean = theta + V' w, Var f(s) = k(s, s) - |V_s|^2, Cov(f(s), f(1)) = k(s, 1) - V_s . V_1.
        let height = n + m + 1
        return ScratchMemory.shared.withBlock(count: height * n) { a in
            posterior(x, y, model: model, grid: grid, storage: a) ?? prior()
        }
    }

    /// The posterior with the work matrix at `a` ((n + m + 1) x n); nil when K is not positive definite.
    private func posterior(_ x: [Double], _ y: [Double], model: GaussianProcessModel, grid: [Double],
                           storage a: UnsafeMutablePointer<Double>) -> GridPosterior? {
        let n = x.count, m = grid.count, height = n + m + 1
        let kernel = model.kernel
        let s = kernel.outputscale, theta = model.mean.constant
        x.withUnsafeBufferPointer { xp in
            DenseMarginalLogLikelihood.fillCovariance(a, xp, kernel: kernel, noise: model.likelihood.noise, leadingDimension: height)
            let lowest = grid.min()!, highest = grid.max()!
            grid.withUnsafeBufferPointer { gp in
                for i in 0..<n {
                    let column = a + i * height + n
                    let checked = !DenseKernel.fastExpCovers(x: xp[i], lowest: lowest, highest: highest, lengthscale: kernel.lengthscale)
                    DenseKernel.column(column, x: xp[i], points: gp.baseAddress!, count: m, kernel: kernel, checked: checked)
                    column[m] = y[i] - theta
                }
            }
        }
        guard LinearAlgebra.choleskyFactor(a, n: n, rowsBelow: m + 1, leadingDimension: height) else { return nil }
        let v = a + n  // V' and w': column i holds row i of L^-1 K(X, S), then w_i
        var mean = [Double](repeating: 0, count: m)
        var variance = [Double](repeating: 0, count: m)
        var covariance = [Double](repeating: 0, count: m)
        mean.withUnsafeMutableBufferPointer { meanBuffer in
            variance.withUnsafeMutableBufferPointer { varianceBuffer in
                covariance.withUnsafeMutableBufferPointer { covarianceBuffer in
                    let mp = meanBuffer.baseAddress!, vp = varianceBuffer.baseAddress!, cp = covarianceBuffer.baseAddress!
                    // Sums over i, four columns per sweep (still added one column after another).
                    var i = 0
                    while i + 4 <= n {
                        let c0 = v + i * height, c1 = c0 + height, c2 = c1 + height, c3 = c2 + height
                        let w0 = c0[m], w1 = c1[m], w2 = c2[m], w3 = c3[m]
                        let l0 = c0[m - 1], l1 = c1[m - 1], l2 = c2[m - 1], l3 = c3[m - 1]
                        for j in 0..<m {
                            let v0 = c0[j], v1 = c1[j], v2 = c2[j], v3 = c3[j]
                            mp[j] = mp[j] + v0 * w0 + v1 * w1 + v2 * w2 + v3 * w3
                            vp[j] = vp[j] + v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3
                            cp[j] = cp[j] + v0 * l0 + v1 * l1 + v2 * l2 + v3 * l3
                        }
                        i += 4
                    }
                    while i < n {
                        let column = v + i * height
                        let wi = column[m], last = column[m - 1]
                        for j in 0..<m {
                            let value = column[j]
                            mp[j] += value * wi
                            vp[j] += value * value
                            cp[j] += value * last
                        }
                        i += 1
                    }
                    for j in 0..<m {
                        mp[j] = mp[j] + theta
                        vp[j] = s - vp[j]
                        cp[j] = kernel(grid[j], grid[m - 1]) - cp[j]
                    }
                }
            }
        }
        return GridPosterior(mean: mean, variance: variance, covarianceWithLast: covariance)
    }
}

/// The exact marginal likelihood: K is rebuilt and factored at every evaluation (O(n^3)).
public struct DenseMarginalLogLikelihood: MarginalLogLikelihood {
    let targets: [Double]
    /// The unit-scale kernel matrix R (column-major, n x n, lower triangle): fixed while the fit runs.
    let correlation: [Double]
    public let count: Int

    init(inputs: [Double], targets: [Double], lengthscale: Double) {
        self.targets = targets
        let n = inputs.count
        self.count = n
        // Built once per fit, so by the C library's exp (the posterior's vectorised one is within 1 ulp).
        let unit = SquaredExponentialKernel(lengthscale: lengthscale, outputscale: 1)
        var r = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            for i in j..<n { r[j * n + i] = unit.correlation(inputs[i], inputs[j]) }
        }
        self.correlation = r
    }

    /// The lower triangle of K(X, X) + noise I (column-major, n x n, leading dimension `ld`) at `k`; the
    /// strict upper triangle is left as it is.
    static func fillCovariance(_ k: UnsafeMutablePointer<Double>, _ x: UnsafeBufferPointer<Double>, kernel: SquaredExponentialKernel,
                               noise: Double, leadingDimension ld: Int) {
        let n = x.count
        guard n > 0 else { return }
        let lowest = x.min()!, highest = x.max()!
        for j in 0..<n {
            // Rows j..<n of column j: k(x_i, x_j), the diagonal k(x_j, x_j) + noise.
            let checked = !DenseKernel.fastExpCovers(x: x[j], lowest: lowest, highest: highest, lengthscale: kernel.lengthscale)
            DenseKernel.column(k + j * ld + j, x: x[j], points: x.baseAddress! + j, count: n - j, kernel: kernel, checked: checked)
            k[j * ld + j] += noise
        }
    }

    public func lossAndGradient(_ model: GaussianProcessModel) -> (loss: Double, gradient: MarginalLikelihoodGradient) {
        let n = count
        let s = model.kernel.outputscale, noise = model.likelihood.noise
        let theta = model.mean.constant
        let nd = Double(n)
        let failed = (Double.infinity, MarginalLikelihoodGradient(constant: 0, outputscale: 0, noise: 0))
        guard n > 0 else { return failed }
        // One block: the factor (n x n), then r = y - theta, alpha = K^-1 r and a scratch vector.
        let work = UnsafeMutablePointer<Double>.allocate(capacity: n * n + 3 * n)
        defer { work.deallocate() }
        let factor = work, residual = work + n * n, alpha = residual + n, scratch = alpha + n
        return correlation.withUnsafeBufferPointer { rBuffer -> (Double, MarginalLikelihoodGradient) in
            let r = rBuffer.baseAddress!
            // K = s R + noise I (lower triangle) = L L' (LAPACK), log det K = 2 sum log L_ii, alpha = K^-1 r
            // (LAPACK's solve): the same operations as ever, so the loss and alpha are unchanged to the bit.
            for j in 0..<n {
                let column = j * n
                for i in j..<n { factor[column + i] = r[column + i] * s }
                factor[column + j] += noise
            }
            guard LinearAlgebra.choleskyFactor(factor, n: n, leadingDimension: n) else { return failed }
            var logDeterminant = 0.0
            for i in 0..<n { logDeterminant += 2 * log(factor[i * n + i]) }
            targets.withUnsafeBufferPointer { y in
                for i in 0..<n { residual[i] = y[i] - theta }
            }
            alpha.update(from: residual, count: n)
            LinearAlgebra.choleskySolve(factor, n: n, alpha)
            var quadratic = 0.0, alphaSum = 0.0, alphaNorm = 0.0
            for i in 0..<n {
                quadratic += residual[i] * alpha[i]
                alphaSum += alpha[i]
                alphaNorm += alpha[i] * alpha[i]
            }
            let alphaRAlpha = LinearAlgebra.quadraticForm(r, n: n, leadingDimension: n, alpha, scratch: scratch)
            // tr(K^-1) = |L^-1|_F^2 (L^-1 in the factor's place).
            LinearAlgebra.invertLowerTriangular(factor, n: n, leadingDimension: n)
            let traceInverse = LinearAlgebra.lowerSumOfSquares(factor, n: n, leadingDimension: n)
            // tr(K^-1 R) = (n - noise tr(K^-1)) / s, since K^-1 R = (I - noise K^-1) / s. The sum over
            // K^-1 .* R it replaces (O(n^3) for K^-1) has terms far larger than itself, so this is no less
            // accurate, unless noise tr(K^-1) is nearly n (s R negligible next to the noise: cancellation);
            // then that sum, K^-1 = L^-T L^-1.
            var traceInverseR: Double
            if noise * traceInverse <= 0.99 * nd {
                traceInverseR = (nd - noise * traceInverse) / s
            } else {
                LinearAlgebra.lowerTransposeTimesLower(factor, n: n, leadingDimension: n)
                traceInverseR = 0
                for j in 0..<n {
                    let column = j * n
                    traceInverseR += factor[column + j] * r[column + j]
                    for i in (j + 1)..<n { traceInverseR += 2 * factor[column + i] * r[column + i] }
                }
            }
            let loss = (0.5 * quadratic + 0.5 * logDeterminant + 0.5 * nd * log(2 * Double.pi)) / nd
            let gradient = MarginalLikelihoodGradient(
                constant: -alphaSum / nd,
                outputscale: 0.5 * (traceInverseR - alphaRAlpha) / nd,
                noise: 0.5 * (traceInverse - alphaNorm) / nd)
            return (loss, gradient)
        }
    }
}

/// Reusable blocks for the posterior's two large work matrices (4 MB at the paper's sizes): allocating
/// them afresh for every posterior costs more in page faults than the kernel matrix costs to fill. A few
/// blocks of moderate size are kept (one per concurrent posterior, up to `keptBlocks`); larger ones are
/// returned to the system at once.
final class ScratchMemory: @unchecked Sendable {
    static let shared = ScratchMemory()
    /// At most this many blocks, of at most `keptCount` doubles (8 MB) each, stay allocated.
    let keptBlocks = 2
    let keptCount = 1 << 20

    private let lock = NSLock()
    private var blocks: [(pointer: UnsafeMutablePointer<Double>, count: Int)] = []

    /// `body` with an uninitialised block of at least `count` doubles, used by it alone.
    func withBlock<Result>(count: Int, _ body: (UnsafeMutablePointer<Double>) -> Result) -> Result {
        var block: (pointer: UnsafeMutablePointer<Double>, count: Int)?
        if count <= keptCount {
            lock.lock()
            if let index = blocks.firstIndex(where: { $0.count >= count }) { block = blocks.remove(at: index) }
            lock.unlock()
        }
        let taken = block ?? (UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1)), max(count, 1))
        defer {
            var kept = false
            if taken.count <= keptCount {
                lock.lock()
                if blocks.count < keptBlocks {
                    blocks.append(taken)
                    kept = true
                }
                lock.unlock()
            }
            if !kept { taken.pointer.deallocate() }
        }
        return body(taken.pointer)
    }
}

/// The squared-exponential kernel, a column at a time: exactly `SquaredExponentialKernel.callAsFunction`'s
/// arithmetic, with `LinearAlgebra.exp(_: Lanes)` for the exponential.
enum DenseKernel {
    /// Whether every argument -(x - p)^2 / (2 l^2) with lowest <= p <= highest lies where the vectorised
    /// exp needs no check (>= -708, with a wide margin for rounding). False for NaN and infinities.
    static func fastExpCovers(x: Double, lowest: Double, highest: Double, lengthscale: Double) -> Bool {
        let far = max(abs(x - lowest), abs(x - highest)) / lengthscale
        return 0.5 * far * far < 700
    }

    /// out[j] = k(x, points[j]) for j < count. `checked: false` when `fastExpCovers` holds for these points.
    static func column(_ out: UnsafeMutablePointer<Double>, x: Double, points: UnsafePointer<Double>, count: Int,
                       kernel: SquaredExponentialKernel, checked: Bool) {
        LinearAlgebra.expTable.withUnsafeBufferPointer { table in
            column(out, x: x, points: points, count: count, kernel: kernel, checked: checked, table: table.baseAddress!)
        }
    }

    private static func column(_ out: UnsafeMutablePointer<Double>, x: Double, points: UnsafePointer<Double>, count: Int,
                               kernel: SquaredExponentialKernel, checked: Bool, table: UnsafePointer<UInt64>) {
        typealias Lanes = LinearAlgebra.Lanes
        let l = kernel.lengthscale, s = kernel.outputscale
        let xv = Lanes(repeating: x), lv = Lanes(repeating: l)
        let width = Lanes.scalarCount
        var j = 0
        if checked {
            while j + width <= count {
                let d = (xv - UnsafeRawPointer(points + j).loadUnaligned(as: Lanes.self)) / lv
                let argument = -0.5 * d * d
                if any(argument .< -708) {
                    for lane in 0..<width { out[j + lane] = s * Foundation.exp(argument[lane]) }
                } else {
                    UnsafeMutableRawPointer(out + j).storeBytes(of: s * LinearAlgebra.exp(argument, table: table), as: Lanes.self)
                }
                j += width
            }
        } else {
            while j + width <= count {
                let d = (xv - UnsafeRawPointer(points + j).loadUnaligned(as: Lanes.self)) / lv
                UnsafeMutableRawPointer(out + j).storeBytes(of: s * LinearAlgebra.exp(-0.5 * d * d, table: table), as: Lanes.self)
                j += width
            }
        }
        // The last few: the same arithmetic, lane by lane.
        while j < count {
            let d = (x - points[j]) / l
            let argument = -0.5 * d * d
            let value = argument < -708 || argument.isNaN
                ? Foundation.exp(argument) : LinearAlgebra.exp(Lanes(repeating: argument), table: table)[0]
            out[j] = s * value
            j += 1
        }
    }
}
