import Foundation
import Testing
@testable import RadaNumerics

/// The register-blocked attention head, on each kernel this CPU runs (AVX-512F, AVX2+FMA), against
/// a float64 softmax(Q·Kᵀ)·V. A kernel the CPU lacks is reported as skipped; where neither runs
/// the towers keep two library products per head.
@Suite struct AttentionHeadTests {
    static let avx512 = PackedMatrix.Kernel.avx512.isAvailable
    static let avx2 = PackedMatrix.Kernel.avx2.isAvailable

    @Test("the widest kernel is chosen, only for 64-wide heads")
    func choice() {
        let expected: PackedMatrix.Kernel? = Self.avx512 ? .avx512 : Self.avx2 ? .avx2 : nil
        #expect(Kernels.attentionHeadKernel(headWidth: 64) == expected)
        #expect(Kernels.attentionHeadKernel(headWidth: 32) == nil)
        #expect(Kernels.attentionHeadKernel(headWidth: 80) == nil)
        #expect(Kernels.attentionHeadSupported(headWidth: 64) == (expected != nil))
    }

    @Test("AVX-512F: matches float64, with and without the causal mask", .enabled(if: avx512, "this CPU has no AVX-512F"))
    func matchesReferenceAVX512() { matchesReference(.avx512) }

    @Test("AVX2+FMA: matches float64, with and without the causal mask", .enabled(if: avx2, "this CPU has no AVX2 with FMA"))
    func matchesReferenceAVX2() { matchesReference(.avx2) }

    @Test("AVX-512F: causal rows do not see later tokens", .enabled(if: avx512, "this CPU has no AVX-512F"))
    func causalIgnoresLaterTokensAVX512() { causalIgnoresLaterTokens(.avx512) }

    @Test("AVX2+FMA: causal rows do not see later tokens", .enabled(if: avx2, "this CPU has no AVX2 with FMA"))
    func causalIgnoresLaterTokensAVX2() { causalIgnoresLaterTokens(.avx2) }

    @Test("AVX-512F: query rows alone equal the whole head's, bit for bit", .enabled(if: avx512, "this CPU has no AVX-512F"))
    func queryRowsAloneAVX512() { queryRowsAlone(.avx512) }

    @Test("AVX2+FMA: query rows alone equal the whole head's, bit for bit", .enabled(if: avx2, "this CPU has no AVX2 with FMA"))
    func queryRowsAloneAVX2() { queryRowsAlone(.avx2) }

    /// The two kernels agree with each other as closely as each with float64 (they differ only in
    /// the order of the softmax's sums and the FMA grouping).
    @Test("AVX-512F and AVX2+FMA agree", .enabled(if: avx512 && avx2, "this CPU lacks AVX-512F or AVX2 with FMA"))
    func kernelsAgree() {
        let width = 128, ld = 3 * width
        for length in [17, 50, 197] {
            var random = TestRandom(seed: UInt64(length + 300))
            let qkv = random.array(length * ld, scale: 2)
            let wide = run(qkv, length: length, ld: ld, width: width, causal: false, kernel: .avx512)
            let narrow = run(qkv, length: length, ld: ld, width: width, causal: false, kernel: .avx2)
            let worst = zip(wide, narrow).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 2e-6, "length \(length): max |Δ| \(worst)")
        }
    }

    /// Lengths around the vectors, key blocks and query blocks of both kernels (1, 3, 7, 8, 9,
    /// 16, 17, 33), ViT-B/32's 50, the text towers' 77 and ViT-B/16's 197; the second of two heads
    /// in a row of Q, K, V, as the towers lay them out. Every output within 2e-6 of float64
    /// (outputs are averages of values in [−1, 1]; fp32 products of 64 and the softmax's fast exp
    /// stay well inside). The scratch starts as NaN, so a lane read before it is written shows.
    func matchesReference(_ kernel: PackedMatrix.Kernel) {
        for length in [1, 3, 7, 8, 9, 16, 17, 33, 50, 77, 197] {
            for causal in [false, true] {
                let worst = check(length: length, causal: causal, kernel: kernel)
                #expect(worst <= 2e-6, "\(kernel) length \(length) causal \(causal): max |Δ| \(worst)")
            }
        }
    }

    /// Under the causal mask, changing the last token's key and value leaves every earlier row
    /// exactly as it was.
    func causalIgnoresLaterTokens(_ kernel: PackedMatrix.Kernel) {
        let length = 50, width = 128, ld = 3 * width
        var random = TestRandom(seed: 7)
        var qkv = random.array(length * ld)
        let before = run(qkv, length: length, ld: ld, width: width, causal: true, kernel: kernel)
        for j in 0..<(2 * width) { qkv[(length - 1) * ld + width + j] = random.next() * 3 }
        let after = run(qkv, length: length, ld: ld, width: width, causal: true, kernel: kernel)
        #expect(before[0..<((length - 1) * width)] == after[0..<((length - 1) * width)])
        #expect(before[((length - 1) * width)...] != after[((length - 1) * width)...])
    }

    /// Query rows asked for alone (one row, as the towers' last layer asks, and runs across the
    /// score and value blocks) have exactly the bits of the whole head, with and without the mask.
    func queryRowsAlone(_ kernel: PackedMatrix.Kernel) {
        let width = 128, ld = 3 * width
        for length in [1, 17, 50, 77, 197] {
            for causal in [false, true] {
                var random = TestRandom(seed: UInt64(length + 100))
                let qkv = random.array(length * ld, scale: 2)
                let whole = run(qkv, length: length, ld: ld, width: width, causal: causal, kernel: kernel)
                for queries in [0..<1, (length - 1)..<length, (length / 2)..<min(length, length / 2 + 6), 1..<min(length, 4)]
                where !queries.isEmpty {
                    let part = run(qkv, length: length, ld: ld, width: width, causal: causal, queries: queries, kernel: kernel)
                    for (row, query) in queries.enumerated() {
                        #expect(
                            part[(row * width + 64)..<(row * width + 128)] == whole[(query * width + 64)..<(query * width + 128)],
                            "\(kernel) length \(length) causal \(causal) query \(query)")
                    }
                }
            }
        }
    }

    /// Runs the head at column offset 64 (the second head) and returns the `length × width` output.
    /// With `queries`, only those rows, into the output's first rows.
    func run(
        _ qkv: [Float], length: Int, ld: Int, width: Int, causal: Bool, queries: Range<Int>? = nil, kernel: PackedMatrix.Kernel
    ) -> [Float] {
        var out = [Float](repeating: 0, count: length * width)
        var scratch = [Float](repeating: .nan, count: Kernels.attentionScratchCount(length: length))
        qkv.withUnsafeBufferPointer { qkv in
            out.withUnsafeMutableBufferPointer { out in
                let q = qkv.baseAddress! + 64
                Kernels.attentionHead(
                    length: length, queries: queries, q: q, k: q + width, v: q + 2 * width, ld: ld, scale: 0.125, causal: causal,
                    scratch: &scratch, into: out.baseAddress! + 64, ldo: width, kernel: kernel)
            }
        }
        return out
    }

    func check(length: Int, causal: Bool, kernel: PackedMatrix.Kernel) -> Double {
        let width = 128, ld = 3 * width
        var random = TestRandom(seed: UInt64(length * 2 + (causal ? 1 : 0)))
        let qkv = random.array(length * ld, scale: 2)
        let out = run(qkv, length: length, ld: ld, width: width, causal: causal, kernel: kernel)
        var worst = 0.0
        for i in 0..<length {
            let keys = causal ? i + 1 : length
            var scores = (0..<keys).map { j in
                (0..<64).reduce(0.0) { $0 + Double(qkv[i * ld + 64 + $1]) * Double(qkv[j * ld + width + 64 + $1]) } * 0.125
            }
            let top = scores.max()!
            scores = scores.map { Foundation.exp($0 - top) }
            let total = scores.reduce(0, +)
            for d in 0..<64 {
                let expected = (0..<keys).reduce(0.0) { $0 + scores[$1] / total * Double(qkv[$1 * ld + 2 * width + 64 + d]) }
                worst = max(worst, abs(Double(out[i * width + 64 + d]) - expected))
            }
        }
        return worst
    }
}
