import Testing
@testable import RadaNumerics

/// The packed few-row GEMM against BLAS on shapes that exercise every edge: row counts that are
/// not a multiple of the 12-row tile, a partial last column panel, a k that spans several
/// 256-wide chunks, bias, accumulation and two threads.
@Suite struct PackedMatrixTests {
    @Test(arguments: [(1, 40, 32), (13, 300, 70), (50, 768, 96), (150, 520, 33)])
    func matchesBLAS(rows: Int, k: Int, n: Int) {
        var random = TestRandom(seed: UInt64(rows * 1_000_003 + k * 101 + n))
        let a = random.array(rows * k)
        let w = random.array(k * n)
        let bias = random.array(n)
        let start = random.array(rows * n)
        let packed = PackedMatrix(rows: k, cols: n, storage: w)
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            for accumulate in [false, true] {
                var expected = accumulate ? start : [Float](repeating: 0, count: rows * n)
                BLAS.sgemm(m: rows, n: n, k: k, a: a, lda: k, b: w, ldb: n, beta: 1, c: &expected, ldc: n)
                for r in 0..<rows { for j in 0..<n { expected[r * n + j] += bias[j] } }
                var got = start
                got.withUnsafeMutableBufferPointer { out in
                    packed.multiply(a, count: rows, bias: bias, into: out.baseAddress!, accumulate: accumulate)
                }
                // Sums of k products of values in [-1, 1): fp32 reordering error grows ~ sqrt(k)·ulp.
                let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
                #expect(worst < 1e-4 * Float(k).squareRoot(), "rows \(rows) k \(k) n \(n) threads \(threads)")
            }
        }
    }

    @Test func parallelPartsEachRunOnce() {
        BLAS.setThreads(2)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 5)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: 5)
        BLAS.parallel(parts: 5) { counts[$0] += 1 }
        #expect((0..<5).map { counts[$0] } == [1, 1, 1, 1, 1])
    }
}
