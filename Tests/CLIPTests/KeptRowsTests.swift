import Foundation
import RadaNumerics
import Testing

@testable import CLIP

/// The towers' last layer runs only for the one state per sequence that is read (the class token,
/// the text's pooled token). Those states must be the whole pass's: bit for bit where rada's own
/// kernels compute each row alone (its products, the fused attention head), and to fp32 rounding
/// on library products, which may sum in another order at another row count.
@Suite("Kept rows of the last layer")
struct KeptRowsTests {
    /// OpenBLAS against itself at another row count (residual states of magnitude ~1; measured
    /// ≤ 1e-6 here).
    static let openBLASTolerance: Float = 1e-5

    /// Every weight form this machine runs, with whether its rows are computed alone.
    static var forms: [(name: String, precision: TowerPrecision, fp32: FP32Kernel, exact: Bool)] {
        var forms: [(String, TowerPrecision, FP32Kernel, Bool)] = [("OpenBLAS", .float32, .openBLAS, false)]
        for kernel in PackedMatrix.Kernel.allCases where kernel.isAvailable {
            forms.append(("packed \(kernel)", .float32, .packed(kernel), true))
        }
        for kernel in BF16PackedMatrix.Kernel.allCases where kernel.isAvailable {
            forms.append(("bf16 \(kernel)", .bfloat16(kernel), .openBLAS, true))
        }
        if FP16PackedMatrix.isAvailable { forms.append(("fp16", .float16, .openBLAS, true)) }
        return forms
    }

    /// Heads of 64 (the fused attention kernel where the CPU has AVX-512F) and of 32 (two library
    /// products per head everywhere); the class token of every image, and arbitrary positions
    /// under the causal mask as in the text tower; one and two threads.
    @Test("the kept states equal the whole pass's", arguments: [64, 32])
    func keptStatesEqualTheWholePass(headWidth: Int) {
        let tower = CLIPConfig.Tower(
            width: 128, layers: 2, heads: 128 / headWidth, mlpWidth: 256, activation: .quickGelu, layerNormEps: 1e-5)
        let cases: [(causal: Bool, length: Int, positions: [Int])] = [
            (false, 50, [0, 0, 0]), (true, 77, [76, 7, 20]), (false, 17, [16, 0, 5]),
        ]
        for form in Self.forms {
            let transformer = Self.randomTransformer(tower, precision: form.precision, fp32: form.fp32, seed: 3)
            for (causal, length, positions) in cases {
                for threads in [1, 2] {
                    let input = Self.random(count: positions.count * length * tower.width, seed: UInt64(length))
                    let (whole, kept) = BLAS.withThreads(threads) {
                        (Self.run(transformer, input, length: length, causal: causal, keeping: nil),
                         Self.run(transformer, input, length: length, causal: causal, keeping: positions))
                    }
                    var worst: Float = 0
                    for (sequence, position) in positions.enumerated() {
                        for i in 0..<tower.width {
                            let expected = whole[(sequence * length + position) * tower.width + i]
                            worst = max(worst, abs(kept[sequence * tower.width + i] - expected))
                        }
                    }
                    let label = "\(form.name), heads of \(headWidth), causal \(causal), length \(length), \(threads) threads"
                    // Bits are kept where every step computes rows alone: rada's products and the
                    // fused attention head; library products (OpenBLAS, or attention heads the
                    // fused kernel does not take) only to rounding.
                    if form.exact && Kernels.attentionHeadSupported(headWidth: headWidth) {
                        #expect(worst == 0, "\(label): max |Δ| \(worst)")
                    } else {
                        #expect(worst <= Self.openBLASTolerance, "\(label): max |Δ| \(worst)")
                    }
                }
            }
        }
    }

    /// The last layer writes only the kept states: with one layer, every row after the first
    /// `sequences` (the kept states' new home) is exactly the input, so no other row's attention
    /// output or MLP was added; the kept rows moved and changed.
    @Test("the last layer leaves the rows not kept as it found them")
    func otherRowsAreNotComputed() {
        let tower = CLIPConfig.Tower(width: 128, layers: 1, heads: 2, mlpWidth: 256, activation: .quickGelu, layerNormEps: 1e-5)
        let transformer = Self.randomTransformer(tower, precision: .float32, fp32: .openBLAS, seed: 5)
        let length = 10, width = tower.width
        let input = Self.random(count: 3 * length * width, seed: 9)
        let whole = Self.run(transformer, input, length: length, causal: false, keeping: nil)
        let kept = Self.run(transformer, input, length: length, causal: false, keeping: [0, 3, 9])
        #expect(kept[(3 * width)...] == input[(3 * width)...])
        #expect(whole[(3 * width)...] != input[(3 * width)...])
        for (sequence, position) in [0, 3, 9].enumerated() {
            let row = kept[(sequence * width)..<((sequence + 1) * width)]
            let source = input[((sequence * length + position) * width)..<((sequence * length + position + 1) * width)]
            #expect(!row.elementsEqual(source))
            let reference = whole[((sequence * length + position) * width)..<((sequence * length + position + 1) * width)]
            #expect(zip(row, reference).allSatisfy { abs($0 - $1) <= Self.openBLASTolerance })
        }
    }

    static func run(
        _ transformer: Transformer, _ input: [Float], length: Int, causal: Bool, keeping positions: [Int]?
    ) -> [Float] {
        var x = input
        let sequences = input.count / (length * transformer.tower.width)
        let workspace = transformer.makeWorkspace(rows: sequences * length, length: length)
        x.withUnsafeMutableBufferPointer {
            transformer($0.baseAddress!, sequences: sequences, length: length, causal: causal, keeping: positions, workspace: workspace)
        }
        return x
    }

    static func randomTransformer(_ tower: CLIPConfig.Tower, precision: TowerPrecision, fp32: FP32Kernel, seed: UInt64) -> Transformer {
        var seed = seed
        func weights(_ inputs: Int, _ outputs: Int) -> LinearWeights {
            seed += 1
            return LinearWeights(
                weight: random(count: inputs * outputs, seed: seed, scale: 1 / Float(inputs).squareRoot()),
                bias: random(count: outputs, seed: seed + 1000, scale: 0.1), precision: precision, fp32: fp32)
        }
        func norm() -> LayerNormWeights {
            seed += 1
            return LayerNormWeights(
                gamma: random(count: tower.width, seed: seed, scale: 0.2).map { 1 + $0 }, beta: random(count: tower.width, seed: seed + 1000, scale: 0.1))
        }
        let layers = (0..<tower.layers).map { _ in
            TransformerLayer(
                ln1: norm(), qkv: weights(tower.width, 3 * tower.width), out: weights(tower.width, tower.width), ln2: norm(),
                fc1: weights(tower.width, tower.mlpWidth), fc2: weights(tower.mlpWidth, tower.width))
        }
        return Transformer(tower: tower, layers: layers)
    }

    /// Uniform in [−scale, scale), from a fixed generator.
    static func random(count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }
}
