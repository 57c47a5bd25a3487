import Testing
@testable import RadaNumerics

/// The symmetric update and the triangular solves against Float64 loops, on the threaded library
/// and on the caller-thread one (the class Gaussians run on the latter, inside a stream's step).
@Suite struct TriangularBLASTests {
    enum Library: CaseIterable { case threaded, callerThread }

    func on<R>(_ library: Library, _ body: () -> R) -> R {
        library == .threaded ? body() : BLAS.onCallerThread(body)
    }

    /// A well-conditioned lower-triangular n×n matrix (diagonal 1–2), with noise above the
    /// diagonal that the solves must not read.
    static func lower(_ n: Int, random: inout TestRandom) -> [Double] {
        var l = random.array(n * n).map(Double.init)
        for i in 0..<n { l[i * n + i] = 1.5 + 0.5 * l[i * n + i] }
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { l[i * n + j] = 1e6 } }
        for i in 0..<n { for j in 0..<i { l[i * n + j] *= 0.3 / Double(n).squareRoot() } }
        return l
    }

    /// C's lower triangle = alpha·AᵀA + beta·C (A k×n) and alpha·AAᵀ + beta·C (A n×k), to 1e-12
    /// relative; its upper triangle untouched. Shapes across BLIS's small-size threshold.
    @Test(arguments: Library.allCases) func symmetricUpdate(library: Library) {
        var random = TestRandom(seed: 3)
        for (n, k) in [(5, 3), (77, 40), (300, 260)] {
            for transA in [true, false] {
                let a = random.array(n * k).map(Double.init)
                let c0 = random.array(n * n).map(Double.init)
                var c = c0
                on(library) { BLAS.dsyrk(transA: transA, n: n, k: k, alpha: -0.5, a: a, lda: transA ? n : k, beta: 2, c: &c, ldc: n) }
                var worst = 0.0
                for i in 0..<n {
                    for j in 0..<n {
                        guard j <= i else {
                            #expect(c[i * n + j] == c0[i * n + j])
                            continue
                        }
                        var sum = 0.0
                        for p in 0..<k { sum += transA ? a[p * n + i] * a[p * n + j] : a[i * k + p] * a[j * k + p] }
                        let expected = -0.5 * sum + 2 * c0[i * n + j]
                        worst = max(worst, abs(c[i * n + j] - expected) / max(1, abs(expected)))
                    }
                }
                #expect(worst <= 1e-12, "n \(n) k \(k) transA \(transA): \(worst)")
            }
        }
    }

    /// X = alpha·B·L⁻ᵀ satisfies X·Lᵀ = alpha·B: to 1e-12 in Float64, 1e-5 in Float32.
    @Test(arguments: Library.allCases) func triangularSolve(library: Library) {
        var random = TestRandom(seed: 4)
        for (m, n) in [(1, 5), (7, 77), (40, 300)] {
            let l = Self.lower(n, random: &random)
            let b = random.array(m * n).map(Double.init)
            var x = b
            on(library) { BLAS.dtrsmRightLowerTransposed(m: m, n: n, alpha: 2, l: l, ldl: n, b: &x, ldb: n) }
            let lf = l.map(Float.init)
            var xf = b.map(Float.init)
            on(library) { BLAS.strsmRightLowerTransposed(m: m, n: n, alpha: 2, l: lf, ldl: n, b: &xf, ldb: n) }
            var worst = 0.0, worstFloat = 0.0
            for r in 0..<m {
                for j in 0..<n {
                    // (X·Lᵀ)[r, j] = Σ_{p ≤ j} X[r, p]·L[j, p]
                    var sum = 0.0, sumFloat = 0.0
                    for p in 0...j {
                        sum += x[r * n + p] * l[j * n + p]
                        sumFloat += Double(xf[r * n + p]) * l[j * n + p]
                    }
                    worst = max(worst, abs(sum - 2 * b[r * n + j]))
                    worstFloat = max(worstFloat, abs(sumFloat - 2 * b[r * n + j]))
                }
            }
            #expect(worst <= 1e-12 && worstFloat <= 1e-5, "m \(m) n \(n): \(worst) \(worstFloat)")
        }
    }

    /// The solves and the update run on the caller-thread library inside `onCallerThread`: none of
    /// them reaches the threaded one (a stream's Gaussians never enter it).
    @Test func callerThreadCallsStayOffTheThreadedLibrary() throws {
        try #require(BLAS.hasCallerThreadLibrary, "no caller-thread library (make deps installs libblis4-serial)")
        var random = TestRandom(seed: 5)
        let l = Self.lower(64, random: &random)
        var b = random.array(64 * 8).map(Double.init), c = [Double](repeating: 0, count: 64 * 64)
        var bf = b.map(Float.init)
        let before = BLAS.threadedLibraryCallsOnThisThread
        BLAS.onCallerThread {
            BLAS.dtrsmRightLowerTransposed(m: 8, n: 64, l: l, ldl: 64, b: &b, ldb: 64)
            BLAS.strsmRightLowerTransposed(m: 8, n: 64, l: l.map(Float.init), ldl: 64, b: &bf, ldb: 64)
            BLAS.dsyrk(transA: true, n: 64, k: 8, a: b, lda: 64, c: &c, ldc: 64)
        }
        #expect(BLAS.threadedLibraryCallsOnThisThread == before)
        BLAS.dsyrk(transA: true, n: 64, k: 8, a: b, lda: 64, c: &c, ldc: 64)
        #expect(BLAS.threadedLibraryCallsOnThisThread == before + 1)
    }
}
