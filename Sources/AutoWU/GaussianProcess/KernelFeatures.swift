import CLinAlg
import Foundation

/// Finite features of the unit-scale squared-exponential kernel on [0, 1]:
///
///     exp(-(x - x')^2 / (2 l^2)) = phi(x) . phi(x') + e(x, x'),   phi(x) = L_zz^-1 k(z, x) in R^r,
///
/// the Nystrom features of pivots z_1..z_r chosen by a pivoted Cholesky on a fine reference grid of [0, 1].
/// The kernel's eigenvalues decay super-exponentially, so a small r reaches |e| ~ machine precision
/// (r = 21 for l = 0.2 at the default tolerance). Built once per (lengthscale, tolerance) and shared.
final class KernelFeatures: @unchecked Sendable {
    let lengthscale: Double
    /// z: the pivots.
    let points: [Double]
    /// L_zz (r x r lower triangular, column-major).
    let factor: [Double]
    /// The largest residual variance e(x, x) left on the reference grid.
    let residual: Double
    var rank: Int { points.count }

    /// Guards `gridCache` (the only mutable state; everything else is immutable after init).
    private let lock = NSLock()
    private var gridCache: (grid: [Double], features: [Double])?

    /// Reference-grid spacing: l / 400 resolves the residual's wiggles (period ~ the pivots' spacing),
    /// so its maximum over [0, 1] stays within a few percent of the maximum on the grid.
    static let pointsPerLengthscale = 400.0

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
    }

    /// Phi: phi(x_j)' as the rows of an n x r matrix (column-major), Phi = K(x, z) L_zz^-T.
    func features(at x: [Double]) -> [Double] {
        _ = LinearAlgebra.singleThreaded
        let r = rank, n = x.count
        var phi = [Double](repeating: 0, count: n * r)
        guard r > 0, n > 0 else { return phi }
        let scale = -0.5 / (lengthscale * lengthscale)
        phi.withUnsafeMutableBufferPointer { out in
            x.withUnsafeBufferPointer { xs in
                for i in 0..<r {
                    let z = points[i]
                    // Contiguous in j and free of calls, so that the loop vectorises.
                    for j in 0..<n {
                        let d = xs[j] - z
                        out[i * n + j] = Self.exponential(scale * d * d)
                    }
                }
            }
            factor.withUnsafeBufferPointer { l in
                cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(n), Int32(r), 1.0,
                            l.baseAddress, Int32(r), out.baseAddress, Int32(n))
            }
        }
        return phi
    }

    /// e^u for u <= 0, to ~1 ulp, inlinable and branch- and call-free so that loops over it vectorise
    /// (Foundation's exp is an opaque call and was half the solver's time). u = k ln 2 + f, |f| <= ln 2 / 2,
    /// then a degree-13 Taylor polynomial (truncation < 1e-17) and 2^k written into the exponent bits.
    @inline(__always)
    static func exponential(_ u: Double) -> Double {
        let v = u >= -700 ? u : -700
        // Adding 1.5 * 2^52 rounds to an integer, which then sits in the low mantissa bits.
        let shifted = v * 1.4426950408889634 + 6_755_399_441_055_744.0
        let k = shifted - 6_755_399_441_055_744.0
        // ln 2 in two parts (fdlibm's): k * ln2High is exact for |k| < 2^20.
        let f = (v - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10
        var p = 1.0 / 6_227_020_800
        p = p * f + 1.0 / 479_001_600
        p = p * f + 1.0 / 39_916_800
        p = p * f + 1.0 / 3_628_800
        p = p * f + 1.0 / 362_880
        p = p * f + 1.0 / 40_320
        p = p * f + 1.0 / 5_040
        p = p * f + 1.0 / 720
        p = p * f + 1.0 / 120
        p = p * f + 1.0 / 24
        p = p * f + 1.0 / 6
        p = p * f + 0.5
        p = p * f + 1
        p = p * f + 1
        // The low 12 bits of the pattern are k (two's complement); k + 1023 is the biased exponent of 2^k.
        return p * Double(bitPattern: (shifted.bitPattern &+ 1023) << 52)
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
