/// The Cholesky factor of a symmetric positive definite matrix (and, for a caller that needs it,
/// its inverse), by recursive halving so that all but O(n·b²) of the O(n³) work is level-3 BLAS
/// (b = `leafSize`):
/// a stream's Gaussian class model factors a D×D covariance every batch, where a scalar
/// factorisation and triangular solve at D = 512 would cost as much as a small batch's step.
public enum Cholesky {
    /// Blocks at most this wide are factored by scalar loops.
    static let leafSize = 32

    /// L (lower triangular, L·Lᵀ = A, row-major, zeros above the diagonal) for a symmetric
    /// positive definite n×n row-major `a` (only its lower triangle is read); nil as for
    /// `factorWithInverse`. A third of the work of forming L⁻¹ as well: what a caller that solves
    /// against L (`BLAS.dtrsmRightLowerTransposed`) needs.
    public static func factor(_ a: [Double], dimension n: Int) -> [Double]? {
        precondition(a.count == n * n, "a holds \(a.count) values, not \(n)×\(n)")
        guard n > 0 else { return [] }
        var l = a
        let ok = l.withUnsafeMutableBufferPointer { factorOnly($0.baseAddress!, n: n, stride: n) }
        guard ok else { return nil }
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { l[i * n + j] = 0 } }
        return l
    }

    /// [A11 A21ᵀ; A21 A22]: L11 = chol(A11), L21 = A21·L11⁻ᵀ (a triangular solve), L22 =
    /// chol(A22 − L21·L21ᵀ) (a symmetric update of the lower triangle), in place.
    private static func factorOnly(_ a: UnsafeMutablePointer<Double>, n: Int, stride ld: Int) -> Bool {
        if n <= leafSize { return leafFactor(a, n: n, stride: ld) }
        let n1 = n / 2, n2 = n - n1
        guard factorOnly(a, n: n1, stride: ld) else { return false }
        let a21 = a + n1 * ld, a22 = a21 + n1
        BLAS.dtrsmRightLowerTransposed(m: n2, n: n1, l: a, ldl: ld, b: a21, ldb: ld)
        BLAS.dsyrk(n: n2, k: n1, alpha: -1, a: a21, lda: ld, beta: 1, c: a22, ldc: ld)
        return factorOnly(a22, n: n2, stride: ld)
    }

    /// L (lower triangular, L·Lᵀ = A) and L⁻¹ for a symmetric positive definite n×n row-major
    /// `a` (only its lower triangle is read); both row-major with zeros above the diagonal. nil
    /// when a pivot is not positive and finite: A is not positive definite to working precision
    /// (or holds NaN), and no factor is returned rather than one that would spread NaN. L⁻¹ is
    /// the transpose of the solve X·Lᵀ = I.
    public static func factorWithInverse(_ a: [Double], dimension n: Int) -> (lower: [Double], inverse: [Double])? {
        guard let l = factor(a, dimension: n) else { return nil }
        var x = [Double](repeating: 0, count: n * n)
        for i in 0..<n { x[i * n + i] = 1 }
        l.withUnsafeBufferPointer { l in
            x.withUnsafeMutableBufferPointer { x in
                BLAS.dtrsmRightLowerTransposed(m: n, n: n, l: l.baseAddress!, ldl: n, b: x.baseAddress!, ldb: n)
            }
        }
        var inverse = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { inverse[i * n + j] = x[j * n + i] } }
        return (l, inverse)
    }

    /// The unblocked factorisation of a small block, in place (lower triangle).
    private static func leafFactor(_ a: UnsafeMutablePointer<Double>, n: Int, stride ld: Int) -> Bool {
        for j in 0..<n {
            var pivot = a[j * ld + j]
            for p in 0..<j { pivot -= a[j * ld + p] * a[j * ld + p] }
            guard pivot > 0, pivot.isFinite else { return false }
            let root = pivot.squareRoot()
            a[j * ld + j] = root
            for i in (j + 1)..<max(j + 1, n) {
                var value = a[i * ld + j]
                for p in 0..<j { value -= a[i * ld + p] * a[j * ld + p] }
                a[i * ld + j] = value / root
            }
        }
        return true
    }
}
