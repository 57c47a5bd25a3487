/// One pre-LN residual block. Projection weights are stored input-major (in × out) so every
/// GEMM is a plain `X · W`; Q, K and V are stacked column-wise into one in × 3·width matrix.
struct TransformerLayer: Sendable {
    var ln1Gamma: [Float]
    var ln1Beta: [Float]
    /// width × 3·width: columns [0, w) give Q, [w, 2w) K, [2w, 3w) V.
    var qkvWeight: [Float]
    var qkvBias: [Float]
    /// width × width.
    var outWeight: [Float]
    var outBias: [Float]
    var ln2Gamma: [Float]
    var ln2Beta: [Float]
    /// width × mlpWidth.
    var fc1Weight: [Float]
    var fc1Bias: [Float]
    /// mlpWidth × width.
    var fc2Weight: [Float]
    var fc2Bias: [Float]
}

/// A layer norm's scale and shift.
struct LayerNormWeights: Sendable {
    var gamma: [Float]
    var beta: [Float]
}
