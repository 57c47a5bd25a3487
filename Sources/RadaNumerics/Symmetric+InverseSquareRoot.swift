import Foundation

extension Symmetric {
    /// The principal inverse square root of a symmetric positive definite n×n row-major `a` whose
    /// eigenvalues are known to be at least `smallestEigenvalue` (> 0), by the coupled
    /// Newton–Schulz iteration with a scaling chosen each round from the interval the iterate's
    /// eigenvalues are known to lie in. nil when it does not converge or leaves a non-finite
    /// value (`a` not positive definite, or NaN).
    ///
    /// Why this shape: a stream recomputes its whitening matrix on the request path, and at
    /// D = 512 the plain iteration (scaled once, by the largest row sum) took 11–13 rounds of
    /// three D³ products. Rescaling every round from the known interval (as scaled Newton
    /// iterations for the matrix sign and polar decomposition do) brings that to 7–9 on the same
    /// matrices; the first round multiplies by the identity and is skipped, and the last needs
    /// no new Y.
    ///
    /// The iteration: Y₀ = A/c (c the largest absolute row sum, at least the largest
    /// eigenvalue), Z₀ = I; each round picks σ, T = √σ·(3I − σ·Z·Y)/2, Y ← Y·T, Z ← T·Z. Y and Z
    /// are polynomials in A, so Y = A·Z/c throughout, and P = Z·Y's eigenvalues p map to
    /// f(σp) = σp·(3 − σp)²/4. With P's eigenvalues in [l, h], σ = s/h with s chosen so that
    /// f(s·l/h) = f(s) (s = 3(1 − √r)/(1 − r^1.5), r = l/h) maps the interval into [f(s), 1], as
    /// narrow as one round can make it; s is capped at 2.8 (σp must stay below 3, where T would
    /// change sign and Z leave the principal root) and set to 1 once r > 0.99, where the plain
    /// iteration converges quadratically. It stops when max|T − I| < 1e-10 (then P = I to
    /// working precision, so Z = (A/c)^(−1/2)) and counts as converged below 1e-6.
    /// The root is made exactly symmetric (the mean of both halves) before it is returned.
    public static func inverseSquareRoot(
        _ a: [Double], dimension d: Int, smallestEigenvalue lower: Double
    ) -> (root: [Double], rounds: Int)? {
        precondition(a.count == d * d, "a holds \(a.count) values, not \(d)×\(d)")
        precondition(lower > 0, "smallestEigenvalue must be positive, got \(lower)")
        guard d > 0 else { return ([], 0) }
        let norm = (0..<d).map { i in (0..<d).reduce(0.0) { $0 + abs(a[i * d + $1]) } }.max()!
        guard norm.isFinite, norm > 0 else { return nil }
        // Symmetric to the last bit: a first round that converges at once returns T, made from
        // Y alone.
        var y = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { y[i * d + j] = (a[i * d + j] + a[j * d + i]) / (2 * norm) } }
        var z = [Double](repeating: 0, count: d * d)
        var t = z, p = z, next = z
        var low = min(lower / norm, 1), high = 1.0
        var correction = Double.infinity
        var rounds = 0
        while rounds < 60 {
            rounds += 1
            correction = 0
            let first = rounds == 1
            let r = low / high
            let s = r > 0.99 ? 1 : min(3 * (1 - r.squareRoot()) / (1 - r * r.squareRoot()), 2.8)
            let sigma = s / high, gain = sigma.squareRoot()
            // P = Z·Y (Z₀ = I: P = Y).
            if !first { product(z, y, into: &p, dimension: d) }
            (first ? y : p).withUnsafeBufferPointer { p in
                for i in 0..<d {
                    for j in 0..<d {
                        let diagonal: Double = i == j ? 1 : 0
                        let v = gain * (3 * diagonal - sigma * p[i * d + j]) / 2
                        t[i * d + j] = v
                        // NaN sticks (a plain max would drop it): a diverging iteration stops.
                        let e = abs(v - diagonal)
                        if e.isNaN || e > correction { correction = e }
                    }
                }
            }
            let done = correction < 1e-10 || !correction.isFinite
            if !done {
                product(y, t, into: &next, dimension: d)
                swap(&y, &next)
            }
            if first {
                swap(&z, &t)
            } else {
                product(t, z, into: &next, dimension: d)
                swap(&z, &next)
            }
            let (scaledLow, scaledHigh) = (sigma * low, sigma * high)
            let mapped = (Self.newtonSchulzMap(scaledLow), Self.newtonSchulzMap(scaledHigh))
            low = min(mapped.0, mapped.1)
            high = scaledLow <= 1 && 1 <= scaledHigh ? 1 : max(mapped.0, mapped.1)
            if done { break }
        }
        // A non-finite T makes Z non-finite: the last check covers both.
        guard correction < 1e-6 else { return nil }
        let scale = 1 / norm.squareRoot()
        var root = z.map { $0 * scale }
        Symmetric.average(&root, dimension: d)
        return root.allSatisfy(\.isFinite) ? (root, rounds) : nil
    }

    /// What one round does to an eigenvalue of P (after its scaling): x·(3 − x)²/4.
    static func newtonSchulzMap(_ x: Double) -> Double { x * (3 - x) * (3 - x) / 4 }

    /// Rows a part of a product has at least: Debian's BLIS (the caller-thread library) takes
    /// a slower path for products with fewer than 256 rows or columns (15–18 GFLOP/s against
    /// 41 on one Zen 3 core at D = 512), and a row's bits could differ between the two paths.
    static let productPartRows = 256

    /// How many parts an n×n product is split into on this thread.
    static func productParts(dimension n: Int) -> Int {
        max(1, min(n / productPartRows, BLAS.parts(forFLOPs: 2 * n * n * n, upTo: 8)))
    }

    /// C = P·Q for n×n row-major matrices, its rows split over the kernel threads in parts of at
    /// least `productPartRows` rows, each on the caller-thread library. Each part's rows are a
    /// product of their own, with the same sums in the same order whatever the split, so the
    /// bits do not depend on the thread count.
    static func product(_ p: [Double], _ q: [Double], into c: inout [Double], dimension n: Int) {
        let parts = productParts(dimension: n)
        let rowsPerPart = (n + parts - 1) / parts
        p.withUnsafeBufferPointer { p in
            q.withUnsafeBufferPointer { q in
                c.withUnsafeMutableBufferPointer { c in
                    let (p, q, c) = (p.baseAddress!, q.baseAddress!, c.baseAddress!)
                    BLAS.parallel(parts: parts) { part in
                        let first = part * rowsPerPart, rows = min(n, first + rowsPerPart) - first
                        guard rows > 0 else { return }
                        BLAS.onCallerThread {
                            BLAS.dgemm(m: rows, n: n, k: n, a: p + first * n, lda: n, b: q, ldb: n, c: c + first * n, ldc: n)
                        }
                    }
                }
            }
        }
    }
}
