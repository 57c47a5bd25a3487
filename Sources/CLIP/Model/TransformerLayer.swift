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
/// its kernel reads: fp32 for OpenBLAS, fp32 panels for the packed kernel, bf16 or fp16 panels
/// in those precisions.
struct LinearWeights: Sendable {
    /// fp32 weights for OpenBLAS (empty when another form holds them).
    let weight: [Float]
    let bias: [Float]
    /// The weights packed in fp32 panels, with `FP32Kernel.packed` (replacing `weight`).
    let packed: PackedMatrix?
    /// The weights packed in bf16, in `TowerPrecision.bfloat16` only (replacing `weight`).
    let bf16: BF16PackedMatrix?
    /// The weights packed in fp16, in `TowerPrecision.float16` only (replacing `weight`).
    let fp16: FP16PackedMatrix?

    /// `weight` is inputs × outputs row-major; `bias` has one value per output. `fp32` says where
    /// fp32 products run (ignored in bf16 and fp16).
    init(weight: [Float], bias: [Float], precision: TowerPrecision = .float32, fp32: FP32Kernel = .openBLAS) {
        self.bias = bias
        let inputs = bias.isEmpty ? 0 : weight.count / bias.count
        var packed: PackedMatrix?, bf16: BF16PackedMatrix?, fp16: FP16PackedMatrix?
        switch (precision, fp32) {
        case (.bfloat16(let kernel), _) where !bias.isEmpty:
            bf16 = BF16PackedMatrix(rows: inputs, cols: bias.count, storage: weight, kernel: kernel)
        case (.float16, _) where !bias.isEmpty:
            fp16 = FP16PackedMatrix(rows: inputs, cols: bias.count, storage: weight)
        case (.float32, .packed(let kernel)) where !bias.isEmpty:
            packed = PackedMatrix(rows: inputs, cols: bias.count, storage: weight, kernel: kernel)
        default:
            break
        }
        self.packed = packed
        self.bf16 = bf16
        self.fp16 = fp16
        self.weight = packed == nil && bf16 == nil && fp16 == nil ? weight : []
    }

    /// Whether its products run on rada's own kernels (packed fp32, bf16 or fp16), whose
    /// arithmetic per output row does not depend on the other rows or on the thread count.
    var runsOnOwnKernels: Bool { packed != nil || bf16 != nil || fp16 != nil }

    /// UInt16 values of scratch a product of `rows` input rows of up to `inputs` values needs for
    /// its rounded inputs: 0 unless the weight is held in bf16 or fp16.
    func halfScratchCount(rows: Int, inputs: Int) -> Int {
        if bf16 != nil { return BF16PackedMatrix.activationCount(rows: rows, inputs: inputs) }
        if fp16 != nil { return FP16PackedMatrix.activationCount(rows: rows, inputs: inputs) }
        return 0
    }

    /// `out (+)= input · weight + bias` for `rows` input rows. `halfScratch` (the workspace's
    /// `halfActivations`, `halfScratchCount` values) holds the inputs rounded to bf16 or fp16.
    func apply(
        _ input: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool,
        halfScratch: UnsafeMutablePointer<UInt16>?
    ) {
        let outputs = bias.count
        if let bf16 {
            bias.withUnsafeBufferPointer {
                bf16.multiply(input, count: rows, bias: $0.baseAddress!, into: out, accumulate: accumulate, scratch: halfScratch)
            }
            return
        }
        if let fp16 {
            bias.withUnsafeBufferPointer {
                fp16.multiply(input, count: rows, bias: $0.baseAddress!, into: out, accumulate: accumulate, scratch: halfScratch)
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
