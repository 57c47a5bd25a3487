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
    func matchesReferenceAVX512() { matchesReference(.fp32(.avx512)) }

    @Test("AVX2+FMA: matches float64, with and without the causal mask", .enabled(if: avx2, "this CPU has no AVX2 with FMA"))
    func matchesReferenceAVX2() { matchesReference(.fp32(.avx2)) }

    @Test("AVX-512F: causal rows do not see later tokens", .enabled(if: avx512, "this CPU has no AVX-512F"))
    func causalIgnoresLaterTokensAVX512() { causalIgnoresLaterTokens(.fp32(.avx512)) }

    @Test("AVX2+FMA: causal rows do not see later tokens", .enabled(if: avx2, "this CPU has no AVX2 with FMA"))
    func causalIgnoresLaterTokensAVX2() { causalIgnoresLaterTokens(.fp32(.avx2)) }

    @Test("AVX-512F: query rows alone equal the whole head's, bit for bit", .enabled(if: avx512, "this CPU has no AVX-512F"))
    func queryRowsAloneAVX512() { queryRowsAlone(.fp32(.avx512)) }

    @Test("AVX2+FMA: query rows alone equal the whole head's, bit for bit", .enabled(if: avx2, "this CPU has no AVX2 with FMA"))
    func queryRowsAloneAVX2() { queryRowsAlone(.fp32(.avx2)) }

    /// The two kernels agree with each other as closely as each with float64 (they differ only in
    /// the order of the softmax's sums and the FMA grouping).
    @Test("AVX-512F and AVX2+FMA agree", .enabled(if: avx512 && avx2, "this CPU lacks AVX-512F or AVX2 with FMA"))
    func kernelsAgree() {
        for (length, worst) in disagreement(.fp32(.avx512), .fp32(.avx2), seed: 300) {
            #expect(worst <= 2e-6, "length \(length): max |Δ| \(worst)")
        }
    }

    static let amx = BF16PackedMatrix.Kernel.amx.isAvailable
    static let avx512bf16 = BF16PackedMatrix.Kernel.avx512.isAvailable

    @Test("bf16 head on AMX-BF16: matches float64 on the bf16-rounded inputs, with and without the causal mask",
          .enabled(if: amx, "this CPU (or its OS kernel) has no AMX-BF16"))
    func bf16MatchesReferenceAMX() { matchesReference(.bf16(.amx)) }

    @Test("bf16 head on AVX512-BF16: matches float64 on the bf16-rounded inputs, with and without the causal mask",
          .enabled(if: avx512bf16, "this CPU has no AVX512-BF16"))
    func bf16MatchesReferenceAVX512() { matchesReference(.bf16(.avx512)) }

    @Test("bf16 head on AMX-BF16: causal rows do not see later tokens; rows alone equal the whole head's",
          .enabled(if: amx, "this CPU (or its OS kernel) has no AMX-BF16"))
    func bf16RowsAMX() {
        causalIgnoresLaterTokens(.bf16(.amx))
        queryRowsAlone(.bf16(.amx))
    }

    @Test("bf16 head on AVX512-BF16: causal rows do not see later tokens; rows alone equal the whole head's",
          .enabled(if: avx512bf16, "this CPU has no AVX512-BF16"))
    func bf16RowsAVX512() {
        causalIgnoresLaterTokens(.bf16(.avx512))
        queryRowsAlone(.bf16(.avx512))
    }

    /// Both bf16 kernels read one layout and sum the same pair products, in their own orders: as
    /// close as their errors against float64 allow, less what a probability at a bf16 rounding
    /// midpoint (which the two orders may round apart) moves an output by.
    @Test("bf16 head: AMX-BF16 and AVX512-BF16 agree", .enabled(if: amx && avx512bf16, "this CPU lacks AMX-BF16 or AVX512-BF16"))
    func bf16KernelsAgree() {
        for (length, worst) in disagreement(.bf16(.amx), .bf16(.avx512), seed: 500, lessRoundingAllowance: true) {
            // Each kernel within about 2e-6 of float64 (1.9e-6 measured on both): twice that and
            // a margin, far below what a misplaced pair would do (~0.1).
            #expect(worst <= 6e-6, "length \(length): max |Δ| beyond the rounding allowance \(worst)")
        }
    }

    /// The largest |a − b| of two heads' outputs on random Q, K, V (seed `seed + length`) of
    /// lengths 17, 50 and 197, without the causal mask; with `lessRoundingAllowance`, less twice
    /// the bf16 reference's allowance for each output (one per kernel).
    func disagreement(_ a: Head, _ b: Head, seed: Int, lessRoundingAllowance: Bool = false) -> [(length: Int, worst: Double)] {
        let width = 128, ld = 3 * width
        return [17, 50, 197].map { length in
            var random = TestRandom(seed: UInt64(length + seed))
            let qkv = random.array(length * ld, scale: 2)
            let first = run(qkv, length: length, ld: ld, width: width, causal: false, head: a)
            let second = run(qkv, length: length, ld: ld, width: width, causal: false, head: b)
            let allowance = lessRoundingAllowance
                ? reference(qkv, length: length, ld: ld, width: width, causal: false, bf16: true).allowance
                : [Double](repeating: 0, count: length * 64)
            var worst = 0.0
            for i in 0..<length {
                for d in 0..<64 {
                    let index = i * width + 64 + d
                    worst = max(worst, Double(abs(first[index] - second[index])) - 2 * allowance[i * 64 + d])
                }
            }
            return (length, worst)
        }
    }

    /// The bf16 head rounds where the fp32 head does not: its outputs differ from fp32's by about
    /// bf16's step on values of this size, and no more.
    @Test("bf16 head: within bf16's rounding of the fp32 head, and visibly rounded",
          .enabled(if: (amx || avx512bf16) && (avx512 || avx2), "this CPU has no bf16 or no fp32 head"))
    func bf16NearFP32() throws {
        let width = 128, ld = 3 * width, length = 50
        var random = TestRandom(seed: 11)
        let qkv = random.array(length * ld, scale: 2)
        let kernel = try #require(BF16PackedMatrix.Kernel.available.first)
        let fp32 = run(qkv, length: length, ld: ld, width: width, causal: false, head: .fp32(Self.avx512 ? .avx512 : .avx2))
        let bf16 = run(qkv, length: length, ld: ld, width: width, causal: false, head: .bf16(kernel))
        let worst = zip(fp32, bf16).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 2e-2 && worst > 1e-4, "\(kernel): max |Δ| \(worst)")
    }

    /// Lengths around the vectors, key blocks and query blocks of both kernels (1, 3, 7, 8, 9,
    /// 16, 17, 33), ViT-B/32's 50, the text towers' 77 and ViT-B/16's 197; the second of two heads
    /// in a row of Q, K, V, as the towers lay them out. Every output within 2e-6 of float64
    /// (outputs are averages of values in [−1, 1]; fp32 products of 64 and the softmax's fast exp
    /// stay well inside). The scratch starts as NaN, so a lane read before it is written shows.
    func matchesReference(_ head: Head) {
        for length in [1, 3, 7, 8, 9, 16, 17, 33, 50, 77, 197] {
            for causal in [false, true] {
                let worst = check(length: length, causal: causal, head: head)
                #expect(worst <= 2e-6, "\(head) length \(length) causal \(causal): max |Δ| \(worst)")
            }
        }
    }

    /// Under the causal mask, changing the last token's key and value leaves every earlier row
    /// exactly as it was.
    func causalIgnoresLaterTokens(_ head: Head) {
        let length = 50, width = 128, ld = 3 * width
        var random = TestRandom(seed: 7)
        var qkv = random.array(length * ld)
        let before = run(qkv, length: length, ld: ld, width: width, causal: true, head: head)
        for j in 0..<(2 * width) { qkv[(length - 1) * ld + width + j] = random.next() * 3 }
        let after = run(qkv, length: length, ld: ld, width: width, causal: true, head: head)
        #expect(before[0..<((length - 1) * width)] == after[0..<((length - 1) * width)])
        #expect(before[((length - 1) * width)...] != after[((length - 1) * width)...])
    }

    /// Query rows asked for alone (one row, as the towers' last layer asks, and runs across the
    /// score and value blocks) have exactly the bits of the whole head, with and without the mask.
    func queryRowsAlone(_ head: Head) {
        let width = 128, ld = 3 * width
        for length in [1, 17, 50, 77, 197] {
            for causal in [false, true] {
                var random = TestRandom(seed: UInt64(length + 100))
                let qkv = random.array(length * ld, scale: 2)
                let whole = run(qkv, length: length, ld: ld, width: width, causal: causal, head: head)
                for queries in [0..<1, (length - 1)..<length, (length / 2)..<min(length, length / 2 + 6), 1..<min(length, 4)]
                where !queries.isEmpty {
                    let part = run(qkv, length: length, ld: ld, width: width, causal: causal, queries: queries, head: head)
                    for (row, query) in queries.enumerated() {
                        #expect(
                            part[(row * width + 64)..<(row * width + 128)] == whole[(query * width + 64)..<(query * width + 128)],
                            "\(head) length \(length) causal \(causal) query \(query)")
                    }
                }
            }
        }
    }

    /// Runs the head at column offset 64 (the second head) and returns the `length × width` output.
    /// With `queries`, only those rows, into the output's first rows.
    func run(_ qkv: [Float], length: Int, ld: Int, width: Int, causal: Bool, queries: Range<Int>? = nil, head: Head) -> [Float] {
        var out = [Float](repeating: 0, count: length * width)
        var scratch = [Float](repeating: .nan, count: head.scratchCount(length: length))
        qkv.withUnsafeBufferPointer { qkv in
            out.withUnsafeMutableBufferPointer { out in
                let q = qkv.baseAddress! + 64
                switch head {
                case .fp32(let kernel):
                    Kernels.attentionHead(
                        length: length, queries: queries, q: q, k: q + width, v: q + 2 * width, ld: ld, scale: 0.125,
                        causal: causal, scratch: &scratch, into: out.baseAddress! + 64, ldo: width, kernel: kernel)
                case .bf16(let kernel):
                    Kernels.attentionHeadBF16(
                        length: length, queries: queries, q: q, k: q + width, v: q + 2 * width, ld: ld, scale: 0.125,
                        causal: causal, scratch: &scratch, into: out.baseAddress! + 64, ldo: width, kernel: kernel)
                }
            }
        }
        return out
    }

    /// The largest |Δ| of the head's output against float64. For the bf16 head the reference
    /// takes Q, K, V and the probabilities rounded to bf16 as the head does, so what is compared
    /// is the layout and the sums, not bf16's rounding (less what a probability at a rounding
    /// midpoint may differ by).
    func check(length: Int, causal: Bool, head: Head) -> Double {
        let width = 128, ld = 3 * width
        var random = TestRandom(seed: UInt64(length * 2 + (causal ? 1 : 0)))
        let qkv = random.array(length * ld, scale: 2)
        let out = run(qkv, length: length, ld: ld, width: width, causal: causal, head: head)
        let (expected, allowance) = reference(qkv, length: length, ld: ld, width: width, causal: causal, bf16: head.isBF16)
        var worst = 0.0
        for i in 0..<length {
            for d in 0..<64 {
                worst = max(worst, abs(Double(out[i * width + 64 + d]) - expected[i * 64 + d]) - allowance[i * 64 + d])
            }
        }
        return worst
    }

    /// The second head's output (length × 64) in float64, and per output what a probability at a
    /// bf16 rounding midpoint may move it by. With `bf16`, from Q, K, V and the probabilities
    /// rounded to bf16 as the bf16 head rounds them.
    func reference(
        _ qkv: [Float], length: Int, ld: Int, width: Int, causal: Bool, bf16: Bool
    ) -> (expected: [Double], allowance: [Double]) {
        let rounded: (Float) -> Double = bf16 ? { Double(BF16PackedMatrix.round($0)) } : { Double($0) }
        var expected = [Double](repeating: 0, count: length * 64), allowance = expected
        for i in 0..<length {
            let keys = causal ? i + 1 : length
            var scores = (0..<keys).map { j in
                (0..<64).reduce(0.0) { $0 + rounded(qkv[i * ld + 64 + $1]) * rounded(qkv[j * ld + width + 64 + $1]) } * 0.125
            }
            let top = scores.max()!
            scores = scores.map { Foundation.exp($0 - top) }
            let total = scores.reduce(0, +)
            let probabilities = scores.map { rounded(Float($0 / total)) }
            // A probability within fp32's softmax error of a bf16 rounding midpoint may round
            // either way in the head: such a term may differ by one bf16 step of it.
            let undecided = bf16 ? scores.map { Self.bf16Undecided($0 / total) } : scores.map { _ in 0.0 }
            for d in 0..<64 {
                let value = { (j: Int) in rounded(qkv[j * ld + 2 * width + 64 + d]) }
                expected[i * 64 + d] = (0..<keys).reduce(0.0) { $0 + probabilities[$1] * value($1) }
                allowance[i * 64 + d] = (0..<keys).reduce(0.0) { $0 + undecided[$1] * abs(value($1)) }
            }
        }
        return (expected, allowance)
    }

    /// One bf16 step of p when p lies within 1e-5 (relative) of the midpoint between two bf16
    /// values, else 0.
    static func bf16Undecided(_ p: Double) -> Double {
        let x = Float(p)
        let below = Float(bitPattern: x.bitPattern & 0xFFFF_0000), above = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x1_0000)
        let midpoint = (Double(below) + Double(above)) / 2
        return abs(p - midpoint) <= 1e-5 * abs(p) ? Double(above) - Double(below) : 0
    }

    /// Which head a check runs: the fp32 head on an instruction set, or the bf16 head on a kernel.
    enum Head: CustomStringConvertible {
        case fp32(PackedMatrix.Kernel)
        case bf16(BF16PackedMatrix.Kernel)

        var isBF16: Bool { if case .bf16 = self { true } else { false } }

        func scratchCount(length: Int) -> Int {
            isBF16 ? Kernels.attentionBF16ScratchCount(length: length) : Kernels.attentionScratchCount(length: length)
        }

        var description: String {
            switch self {
            case .fp32(let kernel): "fp32 \(kernel)"
            case .bf16(let kernel): "bf16 \(kernel)"
            }
        }
    }
}
