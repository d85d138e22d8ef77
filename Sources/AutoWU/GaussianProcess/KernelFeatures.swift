import CLinAlg
import Foundation

/// Finite features of the unit-scale squared-exponential kernel on [0, 1]:
///
///     exp(-(x - x')^2 / (2 l^2)) = phi(x) . phi(x') + e(x, x'),   phi(x) = L_zz^-1 k(z, x) in R^r,
///
/// the Nystrom features of pivots z_1..z_r chosen by a pivoted Cholesky on a fine reference grid of [0, 1].
/// The kernel's eigenvalues decay super-exponentially, so a small r reaches |e| ~ machine precision
/// (r = 21 for l = 0.2 at the default tolerance). Built once per (lengthscale, tolerance) and shared.
///
/// phi is tabulated on the reference grid and interpolated (degree 9, centred): the features are entire
/// functions and the grid step is l / 400, so the interpolation error (~(h / l)^10) is far below rounding,
/// and a point costs ~10 r multiply-adds instead of r exponentials and an r x r triangular solve.
final class KernelFeatures: @unchecked Sendable {
    let lengthscale: Double
    /// z: the pivots.
    let points: [Double]
    /// L_zz (r x r lower triangular, column-major).
    let factor: [Double]
    /// The largest residual variance e(x, x) left on the reference grid.
    let residual: Double
    var rank: Int { points.count }

    /// phi at the table's nodes (j - padding) * step: one row per node, padded with zeros to `lanes` groups
    /// of 4 so that a stencil's rows combine in SIMD.
    private let table: [SIMD4<Double>]
    private let lanes: Int
    private let step: Double
    private let nodeCount: Int

    /// Guards `gridCache` (the only mutable state; everything else is immutable after init).
    private let lock = NSLock()
    private var gridCache: (grid: [Double], features: [Double])?

    /// Reference-grid spacing: l / 400 resolves the residual's wiggles (period ~ the pivots' spacing),
    /// so its maximum over [0, 1] stays within a few percent of the maximum on the grid.
    static let pointsPerLengthscale = 400.0
    /// Interpolation stencil: 10 nodes around the point. The table extends `padding` nodes past [0, 1] so
    /// that every point of [0, 1] gets a centred stencil (Lebesgue constant 1.6, against 18 at an edge).
    static let stencil = 10
    static let padding = 5

    init(lengthscale: Double, tolerance: Double, maximumRank: Int) {
        let count = Int((Self.pointsPerLengthscale / lengthscale).rounded(.up)) + 1
        let candidates = (0..<count).map { Double($0) / Double(count - 1) }
        let unit = SquaredExponentialKernel(lengthscale: lengthscale, outputscale: 1)
        let cholesky = PivotedCholesky(candidates: candidates, tolerance: tolerance, maximumRank: maximumRank,
                                       kernel: unit.correlation)
        self.lengthscale = lengthscale
        self.points = cholesky.pivots.map { candidates[$0] }
        self.factor = cholesky.pivotFactor
        self.residual = cholesky.residual

        step = 1 / Double(count - 1)
        // A basis that misses its tolerance is never used (`shared` returns nil): skip its table.
        nodeCount = cholesky.residual < tolerance ? count + 2 * Self.padding : 0
        let nodes = (0..<nodeCount).map { Double($0 - Self.padding) / Double(count - 1) }
        let columns = Self.directFeatures(at: nodes, points: points, factor: factor, lengthscale: lengthscale)
        let r = points.count
        lanes = (r + 3) / 4
        var rows = [SIMD4<Double>](repeating: .zero, count: nodeCount * lanes)
        for i in 0..<r {
            for j in 0..<nodeCount { rows[j * lanes + i / 4][i % 4] = columns[i * nodeCount + j] }
        }
        table = rows
    }

    /// Phi: phi(x_j)' as the rows of an n x r matrix (column-major).
    func features(at x: [Double]) -> [Double] {
        let r = rank, n = x.count
        guard r > 0, n > 0 else { return [Double](repeating: 0, count: n * r) }
        guard x.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
            return Self.directFeatures(at: x, points: points, factor: factor, lengthscale: lengthscale)
        }
        let stencil = Self.stencil, half = stencil / 2
        // 1 / prod_{j != k} (k - j) for nodes 0..<10.
        var inverseDenominators = [Double](repeating: 0, count: stencil)
        for k in 0..<stencil {
            var d = 1.0
            for j in 0..<stencil where j != k { d *= Double(k - j) }
            inverseDenominators[k] = 1 / d
        }
        var phi = [Double](repeating: 0, count: n * r)
        var weights = [Double](repeating: 0, count: stencil)
        let lanes = lanes
        table.withUnsafeBufferPointer { table in
            phi.withUnsafeMutableBufferPointer { out in
                weights.withUnsafeMutableBufferPointer { w in
                    for j in 0..<n {
                        let t = x[j] / step + Double(Self.padding)
                        let base = min(max(Int(t) - half + 1, 0), nodeCount - stencil)
                        let u = t - Double(base)
                        // Lagrange weights from prefix and suffix products: exactly 1 and 0 at a node.
                        var prefix = 1.0
                        for k in 0..<stencil {
                            w[k] = prefix
                            prefix *= u - Double(k)
                        }
                        var suffix = 1.0
                        for k in stride(from: stencil - 1, through: 0, by: -1) {
                            w[k] *= suffix * inverseDenominators[k]
                            suffix *= u - Double(k)
                        }
                        // Accumulate in a register, 4 features at a time.
                        for q in 0..<lanes {
                            var sum = SIMD4<Double>.zero
                            for k in 0..<stencil { sum += w[k] * table[(base + k) * lanes + q] }
                            for i in 0..<min(4, r - 4 * q) { out[(4 * q + i) * n + j] = sum[i] }
                        }
                    }
                }
            }
        }
        return phi
    }

    /// Phi computed from its definition, K(x, z) L_zz^-T (n x r, column-major): for the table, and for
    /// points outside [0, 1].
    static func directFeatures(at x: [Double], points: [Double], factor: [Double], lengthscale: Double) -> [Double] {
        _ = LinearAlgebra.singleThreaded
        let r = points.count, n = x.count
        let unit = SquaredExponentialKernel(lengthscale: lengthscale, outputscale: 1)
        var phi = [Double](repeating: 0, count: n * r)
        guard r > 0, n > 0 else { return phi }
        for i in 0..<r {
            for j in 0..<n { phi[i * n + j] = unit.correlation(x[j], points[i]) }
        }
        phi.withUnsafeMutableBufferPointer { out in
            factor.withUnsafeBufferPointer { l in
                cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(n), Int32(r), 1.0,
                            l.baseAddress, Int32(r), out.baseAddress, Int32(n))
            }
        }
        return phi
    }

    /// `features(at: grid)`, remembered for the last grid asked for (the test always asks for the same one).
    func gridFeatures(_ grid: [Double]) -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        if let gridCache, gridCache.grid == grid { return gridCache.features }
        let features = features(at: grid)
        gridCache = (grid, features)
        return features
    }

    // MARK: Shared instances

    private struct Key: Hashable {
        var lengthscale: Double
        var tolerance: Double
    }

    private final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var bases: [Key: KernelFeatures] = [:]
    }

    private static let registry = Registry()

    /// Beyond this rank the features stop paying off against the dense solver (l below ~0.03).
    static let maximumRank = 128

    /// Below this the computed residuals are rounding noise (~1e-15 for a unit kernel): extra pivots would
    /// only fit that noise, so such a tolerance cannot be met.
    static let residualFloor = 8 * Double.ulpOfOne

    /// The features for (lengthscale, tolerance), built on first use; nil when the tolerance cannot be met
    /// with at most `maximumRank` features (very short lengthscales) or at all, so the caller falls back to
    /// the dense solver.
    static func shared(lengthscale: Double, tolerance: Double) -> KernelFeatures? {
        guard lengthscale.isFinite, lengthscale * Double(maximumRank) >= 4, tolerance >= residualFloor else { return nil }
        let key = Key(lengthscale: lengthscale, tolerance: tolerance)
        registry.lock.lock()
        defer { registry.lock.unlock() }
        let basis: KernelFeatures
        if let known = registry.bases[key] {
            basis = known
        } else {
            basis = KernelFeatures(lengthscale: lengthscale, tolerance: tolerance, maximumRank: maximumRank)
            registry.bases[key] = basis
        }
        return basis.residual < tolerance ? basis : nil
    }
}
