import CLinAlg

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

    /// Overwrites a Cholesky factor with the lower triangle of the inverse of L L'.
    static func choleskyInverse(_ factor: inout [Double], n: Int) {
        _ = factor.withUnsafeMutableBufferPointer {
            LAPACKE_dpotri(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), $0.baseAddress, Int32(n))
        }
    }

    /// B <- L^-1 B for a lower-triangular L (n x n) and B (n x columns).
    static func lowerTriangularSolve(_ factor: [Double], n: Int, _ b: inout [Double], columns: Int) {
        _ = singleThreaded
        b.withUnsafeMutableBufferPointer { bp in
            factor.withUnsafeBufferPointer { fp in
                cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
                            Int32(n), Int32(columns), 1.0, fp.baseAddress, Int32(n), bp.baseAddress, Int32(n))
            }
        }
    }

    /// y = A' x for A (rows x columns).
    static func transposedTimes(_ a: [Double], rows: Int, columns: Int, _ x: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: columns)
        a.withUnsafeBufferPointer { ap in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    cblas_dgemv(CblasColMajor, CblasTrans, Int32(rows), Int32(columns), 1.0,
                                ap.baseAddress, Int32(rows), xp.baseAddress, 1, 0.0, yp.baseAddress, 1)
                }
            }
        }
        return y
    }

    static func dot(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> Double {
        Double(cblas_ddot(Int32(a.count), a.baseAddress, 1, b.baseAddress, 1))
    }
}
