import Testing
@testable import RadaNumerics

/// The AVX512-FP16 GEMM kernel. Weights and activation rows are scaled by powers of two and
/// rounded to fp16, and products are summed in fp16 for at most 128 terms per lane before fp32
/// takes over, so the check is a bound on the distance from the float64 product, relative to the
/// sum of the terms' magnitudes. The tests run where the CPU has the kernel and are reported as
/// skipped (with the reason) where it does not.
@Suite(.enabled(if: FP16PackedMatrix.isAvailable, "this CPU has no AVX512-FP16"))
struct FP16PackedMatrixTests {
    /// The bf16 kernels' shapes: one row, row counts around the 12-row block, a partial last
    /// panel, k not a multiple of 32, several panels, and k long enough for several fp16 sums.
    static let shapes = [(1, 40, 32), (12, 64, 32), (13, 96, 64), (16, 32, 16), (17, 33, 5), (50, 768, 96), (150, 520, 70)]

    /// Worst |got − exact| / Σ|terms| over the outputs (Σ|terms| at least fp32's smallest normal
    /// value); every output must be finite.
    func worstError(a: [Float], w: [Float], bias: [Float], start: [Float], rows: Int, k: Int, n: Int, accumulate: Bool) -> Double {
        let matrix = FP16PackedMatrix(rows: k, cols: n, storage: w)
        #expect(matrix.byteCount >= k * n * 2)
        var got = start
        got.withUnsafeMutableBufferPointer { out in
            matrix.multiply(a, count: rows, bias: bias, into: out.baseAddress!, accumulate: accumulate)
        }
        var worst = 0.0
        for r in 0..<rows {
            for j in 0..<n {
                var exact = Double(bias[j]) + (accumulate ? Double(start[r * n + j]) : 0)
                var magnitude = abs(exact)
                for i in 0..<k {
                    let x = Double(a[r * k + i]) * Double(w[i * n + j])
                    exact += x
                    magnitude += abs(x)
                }
                let value = Double(got[r * n + j])
                let finite = value.isFinite
                #expect(finite, "rows \(rows) k \(k) n \(n): output (\(r), \(j)) is \(value)")
                // Below fp32's normal range the output itself has only absolute precision.
                worst = max(worst, abs(value - exact) / max(magnitude, Double(Float.leastNormalMagnitude)))
            }
        }
        return worst
    }

    @Test func matchesTheProductWithinFP16Rounding() {
        for (rows, k, n) in Self.shapes {
            var random = TestRandom(seed: UInt64(rows * 1_000_003 + k * 101 + n))
            let a = random.array(rows * k), w = random.array(k * n), bias = random.array(n), start = random.array(rows * n)
            for accumulate in [false, true] {
                let worst = worstError(a: a, w: w, bias: bias, start: start, rows: rows, k: k, n: n, accumulate: accumulate)
                // Operands within 2⁻¹¹ of their fp16 values; each fp16 sum of ≤ 128 terms within a
                // few 2⁻¹¹ of its terms' magnitude. Half of bf16's bound (2⁻⁸).
                #expect(worst < 1.0 / 512, "rows \(rows) k \(k) n \(n): \(worst)")
                #expect(worst > 0, "the kernel is expected to round; an exact fp32 result means it did not")
            }
        }
    }

    /// Rows and weights far outside fp16's range (±65504, smallest normal 6e-5) are scaled into
    /// it: no overflow to infinity, no flush to zero, the same relative error.
    @Test func scalesValuesOutsideFP16Range() {
        let (rows, k, n) = (7, 300, 40)
        var random = TestRandom(seed: 11)
        var a = random.array(rows * k)
        // 1e-39: fp32 subnormals, whose power-of-two scale would pass fp32's largest.
        let rowScales: [Float] = [1e7, 1e-7, 1, 0, 3e4, 1e-3, 1e-39]
        for r in 0..<rows { for i in 0..<k { a[r * k + i] *= rowScales[r] } }
        let zeros = [Float](repeating: 0, count: n), start = [Float](repeating: 0, count: rows * n)
        for weightScale: Float in [1e5, 1e-6, 1] {
            let w = random.array(k * n, scale: weightScale)
            let worst = worstError(a: a, w: w, bias: zeros, start: start, rows: rows, k: k, n: n, accumulate: false)
            #expect(worst < 1.0 / 512, "weights × \(weightScale): \(worst)")
        }
    }

    /// A NaN in one row spoils that row's outputs only, as in fp32.
    @Test func aNaNStaysInItsRow() {
        let (rows, k, n) = (3, 64, 32)
        var random = TestRandom(seed: 5)
        var a = random.array(rows * k)
        a[k + 7] = .nan
        let matrix = FP16PackedMatrix(rows: k, cols: n, storage: random.array(k * n))
        var out = [Float](repeating: 0, count: rows * n)
        out.withUnsafeMutableBufferPointer { matrix.multiply(a, count: rows, bias: nil, into: $0.baseAddress!, accumulate: false) }
        let finite = out.map(\.isFinite), nan = out.map(\.isNaN)
        #expect(!finite[0..<n].contains(false))
        #expect(!nan[n..<(2 * n)].contains(false))
        #expect(!finite[(2 * n)...].contains(false))
    }

    @Test func roundsToNearestEven() {
        #expect(FP16PackedMatrix.round(1) == 1)
        #expect(FP16PackedMatrix.round(1 + 1.0 / 2048) == 1)  // halfway: to the even mantissa
        #expect(FP16PackedMatrix.round(1 + 3.0 / 2048) == 1 + 4.0 / 2048)
        #expect(FP16PackedMatrix.round(65504) == 65504)  // fp16's largest value
        #expect(FP16PackedMatrix.round(65520) == .infinity)  // rounds past it
        #expect(FP16PackedMatrix.round(.nan).isNaN)
    }

    @Test func twoThreadsGiveTheSameBits() {
        var random = TestRandom(seed: 7)
        let (rows, k, n) = (40, 256, 200)
        let a = random.array(rows * k), w = random.array(k * n)
        let matrix = FP16PackedMatrix(rows: k, cols: n, storage: w)
        var results: [[Float]] = []
        for threads in [1, 2] {
            BLAS.withThreads(threads) {
                var out = [Float](repeating: 0, count: rows * n)
                out.withUnsafeMutableBufferPointer { matrix.multiply(a, count: rows, bias: nil, into: $0.baseAddress!, accumulate: false) }
                results.append(out)
            }
        }
        #expect(results[0] == results[1])
    }
}
