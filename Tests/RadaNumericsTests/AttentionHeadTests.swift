import Foundation
import Testing
@testable import RadaNumerics

/// The register-blocked attention head against a float64 softmax(Q·Kᵀ)·V. It runs where the
/// CPU has AVX-512F (elsewhere the towers keep two library products per head) and is reported
/// as skipped otherwise.
@Suite struct AttentionHeadTests {
    static let supported = Kernels.attentionHeadSupported(headWidth: 64)

    @Test("only 64-wide heads", .enabled(if: supported, "this CPU has no AVX-512F"))
    func widths() {
        #expect(!Kernels.attentionHeadSupported(headWidth: 32))
        #expect(!Kernels.attentionHeadSupported(headWidth: 80))
    }

    /// Lengths around the 16-key vectors, 32-key blocks and 8-query blocks (1, 3, 16, 17, 33),
    /// ViT-B/32's 50, the text towers' 77 and ViT-B/16's 197; the second of two heads in a row of Q, K, V, as the
    /// towers lay them out. Every output within 2e-6 of float64 (outputs are averages of values
    /// in [−1, 1]; fp32 products of 64 and the softmax's fast exp stay well inside).
    @Test("matches float64, with and without the causal mask", .enabled(if: supported, "this CPU has no AVX-512F"))
    func matchesReference() {
        for length in [1, 3, 16, 17, 33, 50, 77, 197] {
            for causal in [false, true] {
                let worst = check(length: length, causal: causal)
                #expect(worst <= 2e-6, "length \(length) causal \(causal): max |Δ| \(worst)")
            }
        }
    }

    /// Under the causal mask, changing the last token's key and value leaves every earlier row
    /// exactly as it was.
    @Test("causal rows do not see later tokens", .enabled(if: supported, "this CPU has no AVX-512F"))
    func causalIgnoresLaterTokens() {
        let length = 50, width = 128, ld = 3 * width
        var random = TestRandom(seed: 7)
        var qkv = random.array(length * ld)
        let before = run(qkv, length: length, ld: ld, width: width, causal: true)
        for j in 0..<(2 * width) { qkv[(length - 1) * ld + width + j] = random.next() * 3 }
        let after = run(qkv, length: length, ld: ld, width: width, causal: true)
        #expect(before[0..<((length - 1) * width)] == after[0..<((length - 1) * width)])
        #expect(before[((length - 1) * width)...] != after[((length - 1) * width)...])
    }

    /// Query rows asked for alone (one row, as the towers' last layer asks, and runs across the
    /// 8-query score blocks and 4-query value blocks) have exactly the bits of the whole head, with
    /// and without the mask.
    @Test("query rows alone equal the whole head's, bit for bit", .enabled(if: supported, "this CPU has no AVX-512F"))
    func queryRowsAlone() {
        let width = 128, ld = 3 * width
        for length in [1, 17, 50, 77, 197] {
            for causal in [false, true] {
                var random = TestRandom(seed: UInt64(length + 100))
                let qkv = random.array(length * ld, scale: 2)
                let whole = run(qkv, length: length, ld: ld, width: width, causal: causal)
                for queries in [0..<1, (length - 1)..<length, (length / 2)..<min(length, length / 2 + 6)] {
                    let part = run(qkv, length: length, ld: ld, width: width, causal: causal, queries: queries)
                    for (row, query) in queries.enumerated() {
                        #expect(
                            part[(row * width + 64)..<(row * width + 128)] == whole[(query * width + 64)..<(query * width + 128)],
                            "length \(length) causal \(causal) query \(query)")
                    }
                }
            }
        }
    }

    /// Runs the head at column offset 64 (the second head) and returns the `length × width` output.
    /// With `queries`, only those rows, into the output's first rows.
    func run(_ qkv: [Float], length: Int, ld: Int, width: Int, causal: Bool, queries: Range<Int>? = nil) -> [Float] {
        var out = [Float](repeating: 0, count: length * width)
        var scratch = [Float](repeating: .nan, count: Kernels.attentionScratchCount(length: length))
        qkv.withUnsafeBufferPointer { qkv in
            out.withUnsafeMutableBufferPointer { out in
                let q = qkv.baseAddress! + 64
                Kernels.attentionHead(
                    length: length, queries: queries, q: q, k: q + width, v: q + 2 * width, ld: ld, scale: 0.125, causal: causal,
                    scratch: &scratch, into: out.baseAddress! + 64, ldo: width)
            }
        }
        return out
    }

    func check(length: Int, causal: Bool) -> Double {
        let width = 128, ld = 3 * width
        var random = TestRandom(seed: UInt64(length * 2 + (causal ? 1 : 0)))
        let qkv = random.array(length * ld, scale: 2)
        let out = run(qkv, length: length, ld: ld, width: width, causal: causal)
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
