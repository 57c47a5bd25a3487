import Foundation
import Testing
@testable import RadaNumerics

/// Deterministic pseudo-random values in [-1, 1) (SplitMix64), so failures reproduce.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24) * 2 - 1
    }
    mutating func array(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in next() * scale } }
}

@Suite struct BLASTests {
    @Test func loadsFastKernelsOnThisCPU() throws {
        try BLAS.load()
        let info = BLAS.info
        #expect(!info.library.isEmpty)
        // The point of loading at run time: never the generic fallback on a CPU with AVX2.
        if info.chosenCoreType != nil { #expect(info.coreName.lowercased() != "prescott") }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func sgemmMatchesNaiveProduct(transA: Bool, transB: Bool) {
        var rng = TestRandom(seed: 7)
        let (m, n, k) = (37, 29, 53)
        let a = rng.array(m * k), b = rng.array(k * n)
        var c = [Float](repeating: 0.5, count: m * n)
        // Element (i, j) of op(X) where X is stored with the leading dimension given.
        func opA(_ i: Int, _ p: Int) -> Float { transA ? a[p * m + i] : a[i * k + p] }
        func opB(_ p: Int, _ j: Int) -> Float { transB ? b[j * k + p] : b[p * n + j] }
        BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 2, a: a, lda: transA ? m : k,
                   b: b, ldb: transB ? k : n, beta: 3, c: &c, ldc: n)
        var worst: Double = 0
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<k { s += Double(opA(i, p)) * Double(opB(p, j)) }
                worst = max(worst, abs(2 * s + 1.5 - Double(c[i * n + j])))
            }
        }
        #expect(worst < 1e-4)
    }
}

@Suite struct ElementwiseTests {
    @Test func expIsAccurateToAFewUlp() {
        var x: [Float] = stride(from: -87.0 as Float, through: 88.0, by: 0.0137).map { $0 }
        let reference = x.map { Foundation.exp(Double($0)) }
        x.withUnsafeMutableBufferPointer { Kernels.exp($0) }
        var worst: Double = 0
        for (v, r) in zip(x, reference) { worst = max(worst, abs(Double(v) - r) / r) }
        #expect(worst < 3e-7, "max relative error \(worst)")
    }

    @Test func softmaxRowsSumToOneAndMatchReference() {
        var rng = TestRandom(seed: 3)
        var x = rng.array(4 * 1000, scale: 30)
        let original = x
        x.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: 4, cols: 1000, scale: 0.5) }
        for r in 0..<4 {
            let row = original[(r * 1000)..<((r + 1) * 1000)].map { Double($0) * 0.5 }
            let m = row.max()!
            let z = row.reduce(0) { $0 + Foundation.exp($1 - m) }
            var total: Double = 0
            for c in 0..<1000 {
                let expected = Foundation.exp(row[c] - m) / z
                #expect(abs(Double(x[r * 1000 + c]) - expected) < 1e-6)
                total += Double(x[r * 1000 + c])
            }
            #expect(abs(total - 1) < 1e-5)
        }
    }

    @Test func layerNormMatchesDoublePrecision() {
        var rng = TestRandom(seed: 11)
        let (rows, cols) = (5, 768)
        let x = rng.array(rows * cols, scale: 4).map { $0 + 3 }
        let gamma = rng.array(cols), beta = rng.array(cols)
        var y = [Float](repeating: 0, count: rows * cols)
        Kernels.layerNormRows(x, into: &y, gamma: gamma, beta: beta, rows: rows, cols: cols, eps: 1e-5)
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(cols)
            for c in 0..<cols {
                let expected = (row[c] - mean) / (variance + 1e-5).squareRoot() * Double(gamma[c]) + Double(beta[c])
                #expect(abs(Double(y[r * cols + c]) - expected) < 2e-5)
            }
        }
    }

    /// Every tail length of the vectorised loops, and saturation without NaN or infinity where
    /// exp over- or underflows.
    @Test func activationsHoldAtTheExtremesAndEveryTailLength() {
        let extremes: [Float] = [-1e30, -200, -88, -87, -60, -10, -1e-30, -0.0, 0, 1e-30, 10, 60, 87, 88, 200, 1e30]
        for length in 1...40 {
            let x: [Float] = (0..<length).map { extremes[$0 % extremes.count] * (1 + Float($0 / extremes.count)) }
            var g = x, q = x
            Kernels.gelu(&g, count: length)
            Kernels.quickGelu(&q, count: length)
            for i in x.indices {
                let v = Double(x[i])
                let gelu = 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
                let quick = v < -700 ? 0 : v / (1 + Foundation.exp(-1.702 * v))
                #expect(g[i].isFinite && q[i].isFinite, "length \(length), x = \(v)")
                #expect(abs(Double(g[i]) - gelu) <= 1e-6 * max(1, abs(v)), "gelu(\(v)) = \(g[i])")
                #expect(abs(Double(q[i]) - quick) <= 1e-6 * max(1, abs(v)), "quickGelu(\(v)) = \(q[i])")
            }
        }
    }

    @Test func geluAndQuickGeluMatchTheirDefinitions() {
        let x: [Float] = stride(from: -8 as Float, through: 8, by: 0.01).map { $0 }
        var g = x, q = x
        Kernels.gelu(&g, count: g.count)
        Kernels.quickGelu(&q, count: q.count)
        for i in x.indices {
            let v = Double(x[i])
            let gelu = 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
            let quick = v / (1 + Foundation.exp(-1.702 * v))
            #expect(abs(Double(g[i]) - gelu) < 1e-6 * max(1, abs(v)))
            #expect(abs(Double(q[i]) - quick) < 1e-6 * max(1, abs(v)))
        }
    }

    @Test func halfPrecisionRoundTripsAndConvertsSpecialValues() {
        let values: [Float] = [0, -0.0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, 3.1415927, .infinity, 1e6]
        var half = [UInt16](repeating: 0, count: values.count)
        Kernels.floatToHalf(values, &half, count: values.count)
        var back = [Float](repeating: 0, count: values.count)
        Kernels.halfToFloat(half, &back, count: values.count)
        #expect(half[2] == 0x3C00)
        #expect(half[4] == 0x7BFF)
        #expect(back[6] == 5.9604645e-08)
        #expect(abs(back[7] - 3.140625) < 1e-6)
        #expect(back[8] == .infinity && back[9] == .infinity)
        var bf = [Float](repeating: 0, count: 1)
        Kernels.bfloat16ToFloat([0x3FC0], &bf, count: 1)
        #expect(bf[0] == 1.5)
    }
}
