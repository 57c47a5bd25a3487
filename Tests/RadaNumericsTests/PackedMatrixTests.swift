import Testing
@testable import RadaNumerics

/// The packed fp32 GEMM kernels against a float64 product. Each kernel's tests run where the
/// CPU has it and are reported as skipped (with the reason) where it does not; the portable
/// kernel runs everywhere.
@Suite struct PackedMatrixTests {
    /// (rows, k, n): one row; 12-row tiles and the split of other counts (13, 25, 50: balanced
    /// tiles on AVX-512, full ones and a short 6-row block on AVX2);
    /// k of 1, within one 1024-input chunk (257, 520, 768), of one chunk plus one (1025) and of
    /// several chunks (2100); a partial last 32-column panel (5, 33, 70) and a partial 16-column
    /// half (AVX2); more rows than one 480-row block (500).
    static let shapes = [
        (1, 40, 32), (13, 300, 70), (25, 1, 17), (7, 257, 33), (12, 64, 5), (50, 768, 96), (500, 520, 40),
        (9, 1025, 33), (14, 2100, 40),
    ]

    @Test("AVX-512F kernel matches the float64 product", .enabled(if: PackedMatrix.Kernel.avx512.isAvailable, "this CPU has no AVX-512F"))
    func avx512MatchesReference() {
        for (rows, k, n) in Self.shapes { check(.avx512, rows: rows, k: k, n: n) }
    }

    @Test("AVX2+FMA kernel matches the float64 product", .enabled(if: PackedMatrix.Kernel.avx2.isAvailable, "this CPU has no AVX2 with FMA"))
    func avx2MatchesReference() {
        for (rows, k, n) in Self.shapes { check(.avx2, rows: rows, k: k, n: n) }
    }

    @Test("portable kernel matches the float64 product")
    func portableMatchesReference() {
        for (rows, k, n) in Self.shapes { check(.portable, rows: rows, k: k, n: n) }
    }

    /// Every element within 4·√k·2⁻²⁴ of the sum of its terms' magnitudes (fp32 rounding of a
    /// k-term sum in any order: ~√k half-ulps for random signs), with bias and accumulation, on
    /// one thread and on two (column panels split between them).
    func check(_ kernel: PackedMatrix.Kernel, rows: Int, k: Int, n: Int) {
        var random = TestRandom(seed: UInt64(rows * 1_000_003 + k * 101 + n))
        let a = random.array(rows * k)
        let w = random.array(k * n)
        let bias = random.array(n)
        let start = random.array(rows * n)
        let matrix = PackedMatrix(rows: k, cols: n, storage: w, kernel: kernel)
        #expect(matrix.byteCount == ((n + 31) / 32) * 32 * k * 4)
        let unit = 4 * Double(k).squareRoot() / Double(1 << 24)
        var products = [Double](repeating: 0, count: rows * n), magnitudes = products
        for r in 0..<rows {
            for p in 0..<k {
                let x = Double(a[r * k + p])
                for j in 0..<n {
                    let term = x * Double(w[p * n + j])
                    products[r * n + j] += term
                    magnitudes[r * n + j] += abs(term)
                }
            }
        }
        for threads in [1, 2] {
            for accumulate in [false, true] {
                var got = start
                BLAS.withThreads(threads) {
                    got.withUnsafeMutableBufferPointer { out in
                        matrix.multiply(a, count: rows, bias: bias, into: out.baseAddress!, accumulate: accumulate)
                    }
                }
                var worst = 0.0
                for r in 0..<rows {
                    for j in 0..<n {
                        let i = r * n + j
                        let prior = accumulate ? Double(start[i]) : 0
                        let sum = products[i] + Double(bias[j]) + prior
                        let magnitude = magnitudes[i] + abs(Double(bias[j])) + abs(prior)
                        worst = max(worst, abs(Double(got[i]) - sum) / (magnitude * unit))
                    }
                }
                #expect(worst <= 1, "\(kernel) rows \(rows) k \(k) n \(n) threads \(threads) accumulate \(accumulate): \(worst) of the bound")
            }
        }
    }

    @Test func portableIsAlwaysAvailableAndFastestComesFirst() {
        #expect(PackedMatrix.Kernel.portable.isAvailable)
        #expect(PackedMatrix.Kernel.available.last == .portable)
        #expect(PackedMatrix.Kernel.fastest == PackedMatrix.Kernel.available.first)
        // AVX-512F CPUs all have AVX2 and FMA.
        if PackedMatrix.Kernel.avx512.isAvailable { #expect(PackedMatrix.Kernel.avx2.isAvailable) }
    }

    @Test func parallelPartsEachRunOnce() {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 5)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: 5)
        BLAS.withThreads(2) { BLAS.parallel(parts: 5) { counts[$0] += 1 } }
        #expect((0..<5).map { counts[$0] } == [1, 1, 1, 1, 1])
    }
}
