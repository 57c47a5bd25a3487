import Testing
@testable import RadaNumerics

/// The AMX bf16 GEMM. Its inputs are rounded to bf16 by design, so the exact check is against a
/// float64 product of the *rounded* inputs (only fp32 accumulation order differs); a second check
/// bounds its distance from the fp32 product by the bf16 rounding of both operands.
@Suite(.enabled(if: BF16PackedMatrix.isAvailable, "needs a CPU with AMX-BF16"))
struct BF16PackedMatrixTests {
    @Test(arguments: [(1, 40, 32), (16, 32, 16), (17, 33, 5), (50, 768, 96), (150, 520, 70)])
    func matchesRoundedProduct(rows: Int, k: Int, n: Int) {
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
                matrix.multiply(a, count: rows, bias: bias, into: out.baseAddress!, accumulate: accumulate)
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
            #expect(worstExact < 1e-6, "rows \(rows) k \(k) n \(n): \(worstExact)")
            // Each operand is within 2⁻⁹ relative of its bf16 value, so a product within ~2⁻⁸.
            #expect(worstFP32 < 1.0 / 256, "rows \(rows) k \(k) n \(n): \(worstFP32)")
            #expect(worstFP32 > 0, "the kernel is expected to round; an exact fp32 result means it did not")
        }
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

    @Test func twoThreadsGiveTheSameBits() {
        var random = TestRandom(seed: 7)
        let (rows, k, n) = (40, 256, 200)
        let a = random.array(rows * k), w = random.array(k * n)
        let matrix = BF16PackedMatrix(rows: k, cols: n, storage: w)
        var results: [[Float]] = []
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            var out = [Float](repeating: 0, count: rows * n)
            out.withUnsafeMutableBufferPointer { matrix.multiply(a, count: rows, bias: nil, into: $0.baseAddress!, accumulate: false) }
            results.append(out)
        }
        #expect(results[0] == results[1])
    }
}
