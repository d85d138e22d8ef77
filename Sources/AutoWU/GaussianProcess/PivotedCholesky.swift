import CLinAlg

/// Greedy pivoted Cholesky of a positive semi-definite kernel on a set of candidate points, without ever
/// forming the kernel matrix: each step makes the candidate the current pivots explain worst (the largest
/// residual variance) a pivot, until every residual is below `tolerance`. The rank is therefore decided by
/// the tolerance, not guessed.
struct PivotedCholesky {
    /// Indices into the candidates, in the order chosen.
    let pivots: [Int]
    /// L_zz: the factor's rows at the pivots, r x r lower triangular, column-major. K_zz = L_zz L_zz'.
    let pivotFactor: [Double]
    /// The largest residual variance left on the candidates.
    let residual: Double

    init(candidates: [Double], tolerance: Double, maximumRank: Int, kernel: (Double, Double) -> Double) {
        _ = LinearAlgebra.singleThreaded
        let m = candidates.count
        var diagonal = candidates.map { kernel($0, $0) }
        var columns: [Double] = []  // m x rank, column-major, one column per pivot
        var pivots: [Int] = []
        while pivots.count < min(m, maximumRank) {
            var p = 0
            for i in 1..<m where diagonal[i] > diagonal[p] { p = i }
            // `!(>=)` also stops on NaN.
            guard diagonal[p] >= tolerance else { break }
            let rank = pivots.count
            var column = candidates.map { kernel($0, candidates[p]) }
            if rank > 0 {
                // column -= L[:, 0..<rank] * L[p, 0..<rank]
                columns.withUnsafeBufferPointer { l in
                    column.withUnsafeMutableBufferPointer { c in
                        cblas_dgemv(CblasColMajor, CblasNoTrans, Int32(m), Int32(rank), -1.0, l.baseAddress, Int32(m),
                                    l.baseAddress! + p, Int32(m), 1.0, c.baseAddress, 1)
                    }
                }
            }
            let pivotValue = diagonal[p].squareRoot()
            for i in 0..<m { column[i] /= pivotValue }
            // Earlier pivots are explained exactly; rounding would only leave noise above L_zz's diagonal.
            for q in pivots { column[q] = 0 }
            column[p] = pivotValue
            for i in 0..<m { diagonal[i] = max(0, diagonal[i] - column[i] * column[i]) }
            diagonal[p] = 0
            columns += column
            pivots.append(p)
        }
        let r = pivots.count
        var factor = [Double](repeating: 0, count: r * r)
        for j in 0..<r {
            for i in j..<r { factor[j * r + i] = columns[j * m + pivots[i]] }
        }
        self.pivots = pivots
        self.pivotFactor = factor
        self.residual = diagonal.max() ?? 0
    }
}
