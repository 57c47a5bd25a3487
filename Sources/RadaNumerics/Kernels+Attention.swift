import CNumerics

extension Kernels {
    /// Whether `attentionHead` runs heads of `headWidth` values on this CPU (AVX-512F and 64-wide
    /// heads); elsewhere a head is two library products around `softmaxRows`.
    public static func attentionHeadSupported(headWidth: Int) -> Bool {
        rada_attention_head_supported(Int32(headWidth)) == 1
    }

    /// Floats of scratch `attentionHead` needs for `length` tokens.
    public static func attentionScratchCount(length: Int) -> Int { rada_attention_scratch_size(Int32(length)) }

    /// `out = softmax(scale · Q·Kᵀ) · V` for one head of `length` tokens (keys after the query
    /// masked when `causal`). `q`, `k`, `v` and `out` are rows at strides `ld` and `ldo`;
    /// `scratch` holds `attentionScratchCount(length:)` floats. Only where
    /// `attentionHeadSupported`.
    ///
    /// With `queries`, only those query rows are computed, bit for bit as in the whole head, into
    /// `out`'s rows 0 ..< `queries.count` (every key and value row is still read).
    public static func attentionHead(
        length: Int, queries: Range<Int>? = nil, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, ld: Int, scale: Float, causal: Bool, scratch: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>, ldo: Int
    ) {
        let queries = queries ?? 0..<length
        precondition(queries.lowerBound >= 0 && queries.upperBound <= length, "query rows outside the head")
        guard !queries.isEmpty else { return }
        rada_attention_head_rows(
            Int32(length), Int32(queries.lowerBound), Int32(queries.count), q, k, v, Int32(ld), scale, causal ? 1 : 0,
            scratch, out, Int32(ldo))
    }
}
