import Testing
@testable import RadaNumerics

/// The bf16 GEMM kernels. Their inputs are rounded to bf16 by design, so the exact check is
/// against a float64 product of the *rounded* inputs (only fp32 accumulation order differs); a
/// second check bounds the distance from the fp32 product by the bf16 rounding of both operands.
/// Each kernel's tests run where the CPU has it and are reported as skipped (with the reason)
/// where it does not.
@Suite struct BF16PackedMatrixTests {
    /// Shapes that exercise every edge: one row, row counts around the 12-row (AVX-512) and
    /// 16/32-row (AMX) blocks, a partial last panel, k not a multiple of 32, several panels.
    static let shapes = [(1, 40, 32), (12, 64, 32), (13, 96, 64), (16, 32, 16), (17, 33, 5), (50, 768, 96), (150, 520, 70)]

    @Test("AMX-BF16 matches the rounded product", .enabled(if: BF16PackedMatrix.Kernel.amx.isAvailable, "this CPU (or its OS kernel) has no AMX-BF16"))
    func amxMatchesRoundedProduct() {
        for (rows, k, n) in Self.shapes { check(.amx, rows: rows, k: k, n: n) }
    }

    @Test("AVX512-BF16 matches the rounded product", .enabled(if: BF16PackedMatrix.Kernel.avx512.isAvailable, "this CPU has no AVX512-BF16"))
    func avx512MatchesRoundedProduct() {
        for (rows, k, n) in Self.shapes { check(.avx512, rows: rows, k: k, n: n) }
    }

    func check(_ kernel: BF16PackedMatrix.Kernel, rows: Int, k: Int, n: Int) {
        var random = TestRandom(seed: UInt64(rows * 1_000_003 + k * 101 + n))
        let a = random.array(rows * k)
        let w = random.array(k * n)
        let bias = random.array(n)
        let start = random.array(rows * n)
        let matrix = BF16PackedMatrix(rows: k, cols: n, storage: w)
        #expect(matrix.byteCount >= k * n * 2)
        for accumulate in [false, true] {
            var got = start
            got.withUnsafeMutableBufferPointer { out in
                matrix.multiply(a, count: rows, bias: bias, into: out.baseAddress!, accumulate: accumulate, kernel: kernel)
            }
            var worstExact = 0.0, worstFP32 = 0.0
            for r in 0..<rows {
                for j in 0..<n {
                    var rounded = Double(bias[j]) + (accumulate ? Double(start[r * n + j]) : 0)
                    var exact = rounded, magnitude = abs(rounded)
                    for i in 0..<k {
                        let x = Double(BF16PackedMatrix.round(a[r * k + i])) * Double(BF16PackedMatrix.round(w[i * n + j]))
                        rounded += x
                        exact += Double(a[r * k + i]) * Double(w[i * n + j])
                        magnitude += abs(x)
                    }
                    let value = Double(got[r * n + j])
                    worstExact = max(worstExact, abs(value - rounded) / magnitude)
                    worstFP32 = max(worstFP32, abs(value - exact) / magnitude)
                }
            }
            // fp32 accumulation of the rounded products: a few ulps of the terms' magnitude.
            #expect(worstExact < 1e-6, "\(kernel) rows \(rows) k \(k) n \(n): \(worstExact)")
            // Each operand is within 2⁻⁹ relative of its bf16 value, so a product within ~2⁻⁸.
            #expect(worstFP32 < 1.0 / 256, "\(kernel) rows \(rows) k \(k) n \(n): \(worstFP32)")
            #expect(worstFP32 > 0, "the kernel is expected to round; an exact fp32 result means it did not")
        }
    }

    /// The kernels agree with each other where the machine has both (the same packed weights).
    @Test(.enabled(if: BF16PackedMatrix.Kernel.available.count > 1, "needs two bf16 kernels on this CPU"))
    func kernelsAgree() {
        var random = TestRandom(seed: 3)
        let (rows, k, n) = (37, 300, 90)
        let a = random.array(rows * k), w = random.array(k * n)
        let matrix = BF16PackedMatrix(rows: k, cols: n, storage: w)
        let outputs = BF16PackedMatrix.Kernel.available.map { kernel in
            var out = [Float](repeating: 0, count: rows * n)
            out.withUnsafeMutableBufferPointer { matrix.multiply(a, count: rows, bias: nil, into: $0.baseAddress!, accumulate: false, kernel: kernel) }
            return out
        }
        let worst = zip(outputs[0], outputs[1]).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-4)
    }

    @Test func roundsToNearestEven() {
        #expect(BF16PackedMatrix.round(1) == 1)
        #expect(BF16PackedMatrix.round(1 + 1.0 / 256) == 1)  // halfway: to the even mantissa
        #expect(BF16PackedMatrix.round(1 + 3.0 / 256) == 1 + 4.0 / 256)
        #expect(BF16PackedMatrix.round(1 + 1.5 / 256) == 1 + 2.0 / 256)
        #expect(BF16PackedMatrix.round(.greatestFiniteMagnitude) == .infinity)  // rounds past bf16's largest value
        #expect(BF16PackedMatrix.round(.infinity) == .infinity)
        #expect(BF16PackedMatrix.round(.nan).isNaN)
    }

    @Test(.enabled(if: BF16PackedMatrix.isAvailable, "this CPU runs no bf16 kernel"), arguments: BF16PackedMatrix.Kernel.available)
    func twoThreadsGiveTheSameBits(kernel: BF16PackedMatrix.Kernel) {
        var random = TestRandom(seed: 7)
        let (rows, k, n) = (40, 256, 200)
        let a = random.array(rows * k), w = random.array(k * n)
        let matrix = BF16PackedMatrix(rows: k, cols: n, storage: w)
        var results: [[Float]] = []
        for threads in [1, 2] {
            BLAS.withThreads(threads) {
                var out = [Float](repeating: 0, count: rows * n)
                out.withUnsafeMutableBufferPointer { matrix.multiply(a, count: rows, bias: nil, into: $0.baseAddress!, accumulate: false, kernel: kernel) }
                results.append(out)
            }
        }
        #expect(results[0] == results[1])
    }
}
