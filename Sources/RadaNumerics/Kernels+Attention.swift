import CNumerics

extension Kernels {
    /// The instruction set `attentionHead` runs heads of `headWidth` values on here: AVX-512F,
    /// else AVX2 + FMA, for 64-wide heads; nil elsewhere, where a head is two library products
    /// around `softmaxRows`.
    public static func attentionHeadKernel(headWidth: Int) -> PackedMatrix.Kernel? {
        switch rada_attention_head_kernel(Int32(headWidth)) {
        case Int32(RADA_F32_AVX512): .avx512
        case Int32(RADA_F32_AVX2): .avx2
        default: nil
        }
    }

    /// Whether `attentionHead` runs heads of `headWidth` values on this CPU.
    public static func attentionHeadSupported(headWidth: Int) -> Bool { attentionHeadKernel(headWidth: headWidth) != nil }

    /// Floats of scratch `attentionHead` needs for `length` tokens.
    public static func attentionScratchCount(length: Int) -> Int { rada_attention_scratch_size(Int32(length)) }

    /// `out = softmax(scale · Q·Kᵀ) · V` for one head of `length` tokens (keys after the query
    /// masked when `causal`), on `kernel` (`attentionHeadKernel`'s unless named; it must be
    /// available and be AVX-512F or AVX2+FMA). `q`, `k`, `v` and `out` are rows at strides `ld`
    /// and `ldo`; `scratch` holds `attentionScratchCount(length:)` floats. Only for 64-wide heads.
    ///
    /// With `queries`, only those query rows are computed, bit for bit as in the whole head on the
    /// same kernel, into `out`'s rows 0 ..< `queries.count` (every key and value row is still read).
    public static func attentionHead(
        length: Int, queries: Range<Int>? = nil, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, ld: Int, scale: Float, causal: Bool, scratch: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>, ldo: Int, kernel: PackedMatrix.Kernel? = nil
    ) {
        let queries = queries ?? 0..<length
        precondition(queries.lowerBound >= 0 && queries.upperBound <= length, "query rows outside the head")
        guard let kernel = kernel ?? attentionHeadKernel(headWidth: Int(RADA_ATTENTION_HEAD_WIDTH)) else {
            preconditionFailure("no attention-head kernel on this CPU")
        }
        precondition(kernel != .portable && kernel.isAvailable, "the \(kernel) attention head does not run here")
        guard !queries.isEmpty else { return }
        rada_attention_head_rows(
            kernel.code, Int32(length), Int32(queries.lowerBound), Int32(queries.count), q, k, v, Int32(ld), scale,
            causal ? 1 : 0, scratch, out, Int32(ldo))
    }
}

extension Kernels {
    /// The head width the fused heads (`attentionHead`, `attentionHeadBF16`) take: every CLIP
    /// tower's.
    public static let attentionHeadWidth = Int(RADA_ATTENTION_HEAD_WIDTH)

    /// Floats of scratch `attentionHeadBF16` needs for `length` tokens.
    public static func attentionBF16ScratchCount(length: Int) -> Int { rada_attention_bf16_scratch_size(Int32(length)) }

    /// The head of `attentionHead` with both products in bf16 on `kernel`, for towers whose
    /// projections run in bf16: Q, K, V and the probabilities rounded to bf16 once, fp32
    /// accumulation, scores, softmax and outputs in fp32 (within 2e-6 of float64 on the rounded
    /// inputs; `AttentionHeadTests`). With `queries`, those rows only, bit for bit as in the whole
    /// head on the same kernel. `scratch` holds `attentionBF16ScratchCount(length:)` floats. Only
    /// for 64-wide heads.
    public static func attentionHeadBF16(
        length: Int, queries: Range<Int>? = nil, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, ld: Int, scale: Float, causal: Bool, scratch: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>, ldo: Int, kernel: BF16PackedMatrix.Kernel
    ) {
        let queries = queries ?? 0..<length
        precondition(queries.lowerBound >= 0 && queries.upperBound <= length, "query rows outside the head")
        precondition(kernel.isAvailable, "the \(kernel) attention head does not run here")
        guard !queries.isEmpty else { return }
        let code = switch kernel {
        case .amx: RADA_ATTENTION_BF16_AMX
        case .avx512: RADA_ATTENTION_BF16_AVX512
        }
        rada_attention_bf16_head_rows(
            Int32(code), Int32(length), Int32(queries.lowerBound), Int32(queries.count), q, k, v, Int32(ld), scale,
            causal ? 1 : 0, scratch, out, Int32(ldo))
    }
}
