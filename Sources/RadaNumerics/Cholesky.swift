/// The Cholesky factor of a symmetric positive definite matrix, alone or with its inverse, by
/// recursive halving so that all but O(n·b²) of the O(n³) work is level-3 BLAS (b = `leafSize`):
/// a stream's Gaussian class model factors a D×D covariance every batch, where a scalar
/// factorisation and triangular solve at D = 512 would cost as much as a small batch's step.
public enum Cholesky {
    /// Blocks at most this wide are factored (and inverted) by scalar loops.
    static let leafSize = 32

    /// L (lower triangular, L·Lᵀ = A, row-major, zeros above the diagonal) for a symmetric
    /// positive definite n×n row-major `a` (only its lower triangle is read); nil as for
    /// `factorWithInverse`. A third of the work of `factorWithInverse`: what a caller that solves
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
    /// (or holds NaN), and no factor is returned rather than one that would spread NaN.
    public static func factorWithInverse(_ a: [Double], dimension n: Int) -> (lower: [Double], inverse: [Double])? {
        precondition(a.count == n * n, "a holds \(a.count) values, not \(n)×\(n)")
        guard n > 0 else { return ([], []) }
        var l = a, inverse = [Double](repeating: 0, count: n * n)
        let ok = l.withUnsafeMutableBufferPointer { l in
            inverse.withUnsafeMutableBufferPointer { v in
                factor(l.baseAddress!, v.baseAddress!, n: n, stride: n)
            }
        }
        guard ok else { return nil }
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { l[i * n + j] = 0 } }
        return (l, inverse)
    }

    /// Factors the n×n block at `a` (row stride `ld`) in place into L (lower triangle; the upper
    /// one is left as it was) and writes L⁻¹ into `v` (same stride, upper triangle zero).
    /// [A11 A21ᵀ; A21 A22]: L11 = chol(A11), L21 = A21·L11⁻ᵀ, L22 = chol(A22 − L21·L21ᵀ),
    /// and L⁻¹ = [L11⁻¹ 0; −L22⁻¹·L21·L11⁻¹ L22⁻¹].
    private static func factor(_ a: UnsafeMutablePointer<Double>, _ v: UnsafeMutablePointer<Double>, n: Int, stride ld: Int) -> Bool {
        if n <= leafSize { return leaf(a, v, n: n, stride: ld) }
        let n1 = n / 2, n2 = n - n1
        guard factor(a, v, n: n1, stride: ld) else { return false }
        let a21 = a + n1 * ld, a22 = a21 + n1, v11 = v, v21 = v + n1 * ld, v22 = v21 + n1
        // L21 = A21·L11⁻ᵀ, through a copy of A21 (dgemm may not write what it reads).
        var copy = [Double](repeating: 0, count: n2 * n1)
        copy.withUnsafeMutableBufferPointer { c in
            for i in 0..<n2 { for j in 0..<n1 { c[i * n1 + j] = a21[i * ld + j] } }
            BLAS.dgemm(transB: true, m: n2, n: n1, k: n1, a: c.baseAddress!, lda: n1, b: v11, ldb: ld, c: a21, ldc: ld)
        }
        // A22 − L21·L21ᵀ (the whole block; its upper triangle is never read again).
        BLAS.dgemm(transB: true, m: n2, n: n2, k: n1, alpha: -1, a: a21, lda: ld, b: a21, ldb: ld, beta: 1, c: a22, ldc: ld)
        guard factor(a22, v22, n: n2, stride: ld) else { return false }
        // V21 = −L22⁻¹·(L21·L11⁻¹).
        var t = [Double](repeating: 0, count: n2 * n1)
        t.withUnsafeMutableBufferPointer { t in
            BLAS.dgemm(m: n2, n: n1, k: n1, a: a21, lda: ld, b: v11, ldb: ld, c: t.baseAddress!, ldc: n1)
            BLAS.dgemm(m: n2, n: n1, k: n2, alpha: -1, a: v22, lda: ld, b: t.baseAddress!, ldb: n1, c: v21, ldc: ld)
        }
        for i in 0..<n1 { for j in n1..<n { v[i * ld + j] = 0 } }
        return true
    }

    /// The unblocked factorisation and inverse of a small block.
    private static func leaf(_ a: UnsafeMutablePointer<Double>, _ v: UnsafeMutablePointer<Double>, n: Int, stride ld: Int) -> Bool {
        guard leafFactor(a, n: n, stride: ld) else { return false }
        // L⁻¹ by forward substitution, column by column of the identity.
        for i in 0..<n { for j in 0..<n { v[i * ld + j] = 0 } }
        for j in 0..<n {
            v[j * ld + j] = 1 / a[j * ld + j]
            for i in (j + 1)..<max(j + 1, n) {
                var sum = 0.0
                for p in j..<i { sum += a[i * ld + p] * v[p * ld + j] }
                v[i * ld + j] = -sum / a[i * ld + i]
            }
        }
        return true
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
