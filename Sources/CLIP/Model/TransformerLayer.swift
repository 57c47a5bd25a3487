import RadaNumerics

/// One pre-LN residual block. Projection weights are stored input-major (in × out) so every
/// GEMM is a plain `X · W`; Q, K and V are stacked column-wise into one in × 3·width matrix.
struct TransformerLayer: Sendable {
    var ln1: LayerNormWeights
    /// width × 3·width: columns [0, w) give Q, [w, 2w) K, [2w, 3w) V.
    var qkv: LinearWeights
    /// width × width.
    var out: LinearWeights
    var ln2: LayerNormWeights
    /// width × mlpWidth.
    var fc1: LinearWeights
    /// mlpWidth × width.
    var fc2: LinearWeights
}

/// A dense layer stored inputs × outputs, with its bias. The weight is held once, in the form
/// its kernel reads: fp32 for OpenBLAS, fp32 panels for the packed kernel, bf16 panels in bf16.
struct LinearWeights: Sendable {
    /// fp32 weights for OpenBLAS (empty when `packed` or `bf16` holds them).
    let weight: [Float]
    let bias: [Float]
    /// The weights packed in fp32 panels, with `FP32Kernel.packed` (replacing `weight`).
    let packed: PackedMatrix?
    /// The weights packed in bf16, in `TowerPrecision.bfloat16` only (replacing `weight`).
    let bf16: BF16PackedMatrix?

    /// `weight` is inputs × outputs row-major; `bias` has one value per output. `fp32` says where
    /// fp32 products run (ignored in bf16).
    init(weight: [Float], bias: [Float], precision: TowerPrecision = .float32, fp32: FP32Kernel = .openBLAS) {
        self.bias = bias
        let inputs = bias.isEmpty ? 0 : weight.count / bias.count
        switch (precision, fp32) {
        case (.bfloat16(let kernel), _) where !bias.isEmpty:
            bf16 = BF16PackedMatrix(rows: inputs, cols: bias.count, storage: weight, kernel: kernel)
            packed = nil
            self.weight = []
        case (.float32, .packed(let kernel)) where !bias.isEmpty:
            packed = PackedMatrix(rows: inputs, cols: bias.count, storage: weight, kernel: kernel)
            bf16 = nil
            self.weight = []
        default:
            packed = nil
            bf16 = nil
            self.weight = weight
        }
    }

    /// `out (+)= input · weight + bias` for `rows` input rows. `bf16Scratch` (the workspace's
    /// `bf16Activations`) holds the rounded inputs in bf16 precision.
    func apply(
        _ input: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool,
        bf16Scratch: UnsafeMutablePointer<UInt16>?
    ) {
        let outputs = bias.count
        if let bf16 {
            bias.withUnsafeBufferPointer {
                bf16.multiply(input, count: rows, bias: $0.baseAddress!, into: out, accumulate: accumulate, scratch: bf16Scratch)
            }
            return
        }
        if let packed {
            bias.withUnsafeBufferPointer {
                packed.multiply(input, count: rows, bias: $0.baseAddress!, into: out, accumulate: accumulate)
            }
            return
        }
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(
                m: rows, n: outputs, k: w.count / outputs, a: input, lda: w.count / outputs, b: w.baseAddress!,
                ldb: outputs, beta: accumulate ? 1 : 0, c: out, ldc: outputs)
        }
        bias.withUnsafeBufferPointer { Kernels.addBiasRows(out, bias: $0.baseAddress!, rows: rows, cols: outputs) }
    }
}

/// A layer norm's scale and shift.
struct LayerNormWeights: Sendable {
    var gamma: [Float]
    var beta: [Float]

    /// Normalises `rows` rows of `gamma.count` values; `input` and `output` may be the same.
    func apply(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rows: Int, eps: Float) {
        gamma.withUnsafeBufferPointer { g in
            beta.withUnsafeBufferPointer { b in
                Kernels.layerNormRows(
                    input, into: output, gamma: g.baseAddress!, beta: b.baseAddress!, rows: rows, cols: g.count, eps: eps)
            }
        }
    }
}
