import CLinAlg
import Foundation

/// Thin, typed edges over the LAPACK/BLAS calls the solvers use. Matrices are column-major `[Double]`.
enum LinearAlgebra {
    /// OpenBLAS may split work across threads, and a different split rounds differently. The core promises
    /// the same bits on every run, so BLAS runs on one thread (tests are small; parallelism is across jobs).
    static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// In-place Cholesky factor (lower) of the n x n SPD matrix `a`; false when it is not positive definite.
    static func choleskyFactor(_ a: inout [Double], n: Int) -> Bool {
        _ = singleThreaded
        let info = a.withUnsafeMutableBufferPointer {
            LAPACKE_dpotrf(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), $0.baseAddress, Int32(n))
        }
        return info == 0
    }

    /// Solves L L' X = B in place for `columns` right-hand sides, given the factor from `choleskyFactor`.
    static func choleskySolve(_ factor: [Double], n: Int, _ b: inout [Double], columns: Int = 1) {
        _ = b.withUnsafeMutableBufferPointer { bp in
            factor.withUnsafeBufferPointer { fp in
                LAPACKE_dpotrs(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), Int32(columns),
                               fp.baseAddress, Int32(n), bp.baseAddress, Int32(n))
            }
        }
    }

    /// y = A' x for A (rows x columns).
    static func transposedTimes(_ a: [Double], rows: Int, columns: Int, _ x: [Double]) -> [Double] {
        matrixVector(a, rows: rows, columns: columns, x, transposed: true)
    }

    /// y = A x for A (rows x columns).
    static func times(_ a: [Double], rows: Int, columns: Int, _ x: [Double]) -> [Double] {
        matrixVector(a, rows: rows, columns: columns, x, transposed: false)
    }

    private static func matrixVector(_ a: [Double], rows: Int, columns: Int, _ x: [Double], transposed: Bool) -> [Double] {
        var y = [Double](repeating: 0, count: transposed ? columns : rows)
        a.withUnsafeBufferPointer { ap in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    cblas_dgemv(CblasColMajor, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), 1.0,
                                ap.baseAddress, Int32(rows), xp.baseAddress, 1, 0.0, yp.baseAddress, 1)
                }
            }
        }
        return y
    }
}

// MARK: - The exact solver's kernels (raw column-major storage, leading dimensions explicit)

extension LinearAlgebra {
    private static let lower = CChar(UInt8(ascii: "L"))

    /// LAPACK's Cholesky (lower) of the n x n block at `a`, without LAPACKE's scan of the matrix for NaN
    /// (a NaN makes the factorisation fail anyway). False when the block is not positive definite.
    static func choleskyFactor(_ a: UnsafeMutablePointer<Double>, n: Int, leadingDimension lda: Int) -> Bool {
        _ = singleThreaded
        return LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, lower, Int32(n), a, Int32(lda)) == 0
    }

    /// Solves L L' X = B in place (B: n x columns, leading dimension n) given the factor from `choleskyFactor`.
    static func choleskySolve(_ factor: UnsafePointer<Double>, n: Int, _ b: UnsafeMutablePointer<Double>, columns: Int = 1) {
        _ = singleThreaded
        _ = LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, lower, Int32(n), Int32(columns), factor, Int32(n), b, Int32(n))
    }

    /// Factors the SPD matrix A in the top n x n block of the (n + `rowsBelow`) x n matrix [A; B] at `a`
    /// (column-major, leading dimension `lda`; A's lower triangle is read) in place as L L' and, in the same
    /// pass, overwrites B with B L^-T. False when A is not positive definite (the contents are then
    /// unspecified).
    ///
    /// Recursive on the columns (the left half is factored, everything below and right of it updated by
    /// one SYRK and one large GEMM, then the right half factored), so that nearly all of the work runs in
    /// matrix-matrix kernels. At the leaves (at most `leaf` columns) the diagonal block is factored by
    /// LAPACK and inverted, and the rows below it are multiplied by that inverse (TRMM), which runs at
    /// matrix-multiply speed where OpenBLAS's triangular solve does not. Multiplying by the inverse of
    /// these small diagonal blocks instead of substituting changes the results by about as much as
    /// reordering the points does (the reference's own rounding noise), no more.
    static func choleskyFactor(_ a: UnsafeMutablePointer<Double>, n: Int, rowsBelow: Int, leadingDimension lda: Int,
                               leaf: Int = 24) -> Bool {
        precondition(leaf > 0, "the leaves need at least one column")
        _ = singleThreaded
        guard n > 0 else { return true }
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: leaf * leaf)
        defer { scratch.deallocate() }
        return factorRecursively(a, columns: n, below: rowsBelow, lda: lda, leaf: leaf, scratch: scratch)
    }

    /// The `c` x `c` block at `a` is the diagonal block still to factor; `below` rows follow it.
    private static func factorRecursively(_ a: UnsafeMutablePointer<Double>, columns c: Int, below: Int, lda: Int,
                                          leaf: Int, scratch w: UnsafeMutablePointer<Double>) -> Bool {
        if c <= leaf {
            guard LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, lower, Int32(c), a, Int32(lda)) == 0 else { return false }
            // W = L^-1 for this block (lower triangle; the upper one is never read).
            for j in 0..<c {
                (w + j * c + j).update(from: a + j * lda + j, count: c - j)
            }
            invertSmallLowerTriangular(w, n: c, leadingDimension: c)
            if below > 0 {
                cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
                            Int32(below), Int32(c), 1.0, w, Int32(c), a + c, Int32(lda))
            }
            return true
        }
        var c1 = c / 2
        if c1 > leaf { c1 -= c1 % leaf }
        let c2 = c - c1
        guard factorRecursively(a, columns: c1, below: c2 + below, lda: lda, leaf: leaf, scratch: w) else { return false }
        let a21 = a + c1, a22 = a + c1 * lda + c1
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, Int32(c2), Int32(c1), -1.0, a21, Int32(lda), 1.0, a22, Int32(lda))
        if below > 0 {
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, Int32(below), Int32(c2), Int32(c1),
                        -1.0, a + c, Int32(lda), a21, Int32(lda), 1.0, a22 + c2, Int32(lda))
        }
        return factorRecursively(a22, columns: c2, below: below, lda: lda, leaf: leaf, scratch: w)
    }

    /// x' A x for the symmetric n x n A whose lower triangle is at `a`; `scratch` holds n doubles.
    static func quadraticForm(_ a: UnsafePointer<Double>, n: Int, leadingDimension lda: Int, _ x: UnsafePointer<Double>,
                              scratch: UnsafeMutablePointer<Double>) -> Double {
        _ = singleThreaded
        cblas_dsymv(CblasColMajor, CblasLower, Int32(n), 1.0, a, Int32(lda), x, 1, 0.0, scratch, 1)
        return cblas_ddot(Int32(n), x, 1, scratch, 1)
    }

    /// The sum of the squares of the lower triangle of the n x n matrix at `a` (its Frobenius norm squared
    /// when it is lower triangular).
    static func lowerSumOfSquares(_ a: UnsafePointer<Double>, n: Int, leadingDimension lda: Int) -> Double {
        var total = SIMD4<Double>()
        for j in 0..<n {
            let column = a + j * lda
            var i = j
            while i + 4 <= n {
                let v = UnsafeRawPointer(column + i).loadUnaligned(as: SIMD4<Double>.self)
                total += v * v
                i += 4
            }
            while i < n {
                total[0] += column[i] * column[i]
                i += 1
            }
        }
        return total.sum()
    }

    /// Overwrites the lower-triangular n x n matrix at `a` (leading dimension `lda`) with its inverse:
    /// [A 0; B C]^-1 = [A^-1 0; -C^-1 B A^-1 C^-1], recursively, the off-diagonal blocks by TRMM.
    static func invertLowerTriangular(_ a: UnsafeMutablePointer<Double>, n: Int, leadingDimension lda: Int, leaf: Int = 16) {
        precondition(leaf > 0, "the leaves need at least one column")
        _ = singleThreaded
        guard n > leaf else {
            invertSmallLowerTriangular(a, n: n, leadingDimension: lda)
            return
        }
        let n1 = n / 2, n2 = n - n1
        let b = a + n1, c = a + n1 * lda + n1
        invertLowerTriangular(a, n: n1, leadingDimension: lda, leaf: leaf)
        invertLowerTriangular(c, n: n2, leadingDimension: lda, leaf: leaf)
        cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, Int32(n2), Int32(n1), 1.0, a, Int32(lda), b, Int32(lda))
        cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(n2), Int32(n1), -1.0, c, Int32(lda), b, Int32(lda))
    }

    /// LAPACK's unblocked TRTI2 (lower, non-unit), in place, for the small diagonal blocks at the leaves of
    /// the two recursions above: at these sizes (<= 24) cheaper than a call into OpenBLAS. Column j of the
    /// inverse, from the right: x_jj = 1 / a_jj, x(j+1:, j) = -x_jj X(j+1:, j+1:) a(j+1:, j), with the
    /// trailing block X already inverted.
    private static func invertSmallLowerTriangular(_ a: UnsafeMutablePointer<Double>, n: Int, leadingDimension lda: Int) {
        var j = n - 1
        while j >= 0 {
            let column = a + j * lda
            column[j] = 1 / column[j]
            let scale = -column[j]
            // x <- X(j+1:, j+1:) x, lower triangular, bottom up so that x is overwritten in place.
            var i = n - 1
            while i > j {
                var sum = 0.0
                for k in (j + 1)...i { sum += a[k * lda + i] * column[k] }
                column[i] = sum * scale
                i -= 1
            }
            j -= 1
        }
    }

    /// X' X (lower triangle) for the lower-triangular X at `a`, in place (LAPACK's LAUUM): for X = L^-1,
    /// (L L')^-1.
    static func lowerTransposeTimesLower(_ a: UnsafeMutablePointer<Double>, n: Int, leadingDimension lda: Int) {
        _ = singleThreaded
        _ = LAPACKE_dlauum_work(LAPACK_COL_MAJOR, lower, Int32(n), a, Int32(lda))
    }
}

// MARK: - exp, vectorised

extension LinearAlgebra {
    typealias Lanes = SIMD8<Double>

    /// e^a in every lane, within 1 ulp of the C library's `exp` (itself within about 0.51 ulp of the true
    /// value), for -708 <= a <= 709 and NaN (NaN); outside that range the result is wrong: take `exp`.
    /// `table` is `expTable`'s storage.
    ///
    /// The classic table-driven method (the one the C library uses too): a = (128 m + i) ln(2) / 128 + r
    /// with |r| <= ln(2) / 256 (Cody and Waite's two-part ln(2) / 128, so r is exact to ~2^-60), then
    /// e^a = 2^m 2^(i/128) e^r, 2^(i/128) = H_i (1 + T_i) from the table, e^r by its Taylor polynomial
    /// to r^5 (truncation < 0.01 ulp). Only + - * and bit operations besides the lookups, so that it
    /// vectorises on any x86-64 or ARM.
    @inline(__always)
    static func exp(_ a: Lanes, table: UnsafePointer<UInt64>) -> Lanes {
        let shift = Lanes(repeating: 0x1.8p52)  // adding it rounds to an integer, kept in the low bits
        let z = a * (1.4426950408889634 * 128) + shift
        let bits = unsafeBitCast(z, to: SIMD8<UInt64>.self)
        let k = z - shift  // 128 m + i
        let r = (a - k * ln2By128.high) - k * ln2By128.low
        var tail = Lanes(), head = SIMD8<UInt64>()
        for lane in 0..<Lanes.scalarCount {
            let i = Int(truncatingIfNeeded: bits[lane] & 127)
            tail[lane] = Double(bitPattern: table[2 * i])
            head[lane] = table[2 * i + 1]
        }
        // H_i 2^m: the table holds H_i's bits less i << 45, and (128 m + i) << 45 = m << 52 + i << 45.
        let scale = unsafeBitCast(head &+ (bits &<< 45), to: Lanes.self)
        let r2 = r * r
        let low: Lanes = r * (1.0 / 6) + 0.5
        let high: Lanes = r * (1.0 / 120) + 1.0 / 24
        let polynomial: Lanes = (tail + r) + r2 * low + (r2 * r2) * high
        return scale + scale * polynomial
    }

    /// ln(2) / 128 as a 33-bit head (so that k times it is exact for |k| < 2^20) and the rest.
    static let ln2By128: (high: Double, low: Double) = {
        let ln2 = (high: 0x1.62e42fefa39efp-1, low: 0x1.abc9e3b39803fp-56)  // ln 2 = high + low to 2^-107
        let full = ln2.high / 128
        let head = Double(bitPattern: full.bitPattern & ~((1 << 20) - 1))
        return (head, (full - head) + ln2.low / 128)
    }()

    /// 2^(i/128) = H_i (1 + T_i), i < 128: entries 2i and 2i + 1 are T_i's bits and H_i's less i << 45.
    /// H_i is the C library's exp2 (within an ulp), T_i its relative error, found from H_i^128 = 2^i
    /// (1 - T_i)^128 ~ 2^i (1 - 128 T_i), with H_i^128 in double-double arithmetic (error ~2^-100).
    static let expTable: [UInt64] = (0..<128).flatMap { i -> [UInt64] in
        let head = Foundation.exp2(Double(i) / 128)
        var power = (high: head, low: 0.0)
        for _ in 0..<7 { power = doubleDoubleSquare(power) }
        let scale = Double(sign: .plus, exponent: -i, significand: 1)
        let excess = (power.high * scale - 1) + power.low * scale  // 128 T_i, to first order (T_i^2 ~ 2^-106)
        let tail = -excess / 128
        return [tail.bitPattern, head.bitPattern &- (UInt64(i) << 45)]
    }

    /// (h + l)^2 in double-double arithmetic: Dekker's exact product (no fused multiply-add needed).
    private static func doubleDoubleSquare(_ x: (high: Double, low: Double)) -> (high: Double, low: Double) {
        let split = 134_217_729.0 * x.high  // 2^27 + 1
        let upper = split - (split - x.high), lower = x.high - upper
        let product = x.high * x.high
        let error = ((upper * upper - product) + 2 * upper * lower) + lower * lower
        let rest = error + 2 * x.high * x.low
        let sum = product + rest
        return (sum, rest - (sum - product))
    }
}
