import CNumerics

/// Vectorised element-wise kernels (C, compiled per instruction set). All operate in place on
/// contiguous row-major buffers.
public enum Kernels {
    public static func exp(_ x: UnsafeMutableBufferPointer<Float>) {
        rada_vexp(x.baseAddress, x.baseAddress, x.count)
    }

    /// Softmax of each row of a rows×cols buffer, after multiplying by `scale` (> 0).
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, scale: Float = 1) {
        precondition(scale > 0, "softmaxRows needs a positive scale, got \(scale)")
        rada_softmax_rows(x, rows, cols, scale)
    }

    /// Layer norm of each row; `input` and `output` may be the same buffer.
    public static func layerNormRows(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, rows: Int, cols: Int, eps: Float
    ) {
        rada_layernorm_rows(input, output, gamma, beta, rows, cols, eps)
    }

    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) { rada_gelu(x, count) }
    public static func quickGelu(_ x: UnsafeMutablePointer<Float>, count: Int) { rada_quick_gelu(x, count) }

    public static func addBiasRows(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, cols: Int) {
        rada_add_bias_rows(x, bias, rows, cols)
    }

    public static func halfToFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        rada_f16_to_f32(src, dst, count)
    }
    public static func bfloat16ToFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        rada_bf16_to_f32(src, dst, count)
    }
    public static func floatToHalf(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        rada_f32_to_f16(src, dst, count)
    }
}
