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

    /// One Adam / AdamW step's constants for `adamUpdate` (the optimiser's names for them).
    public struct AdamStep {
        public var decoupled: Float, coupled: Float, oneMinusB1: Float, b2: Float, oneMinusB2: Float
        public var rootCorrection: Float, eps: Float, stepSize: Float
        public var parameterBound: Float, firstMomentBound: Float, secondMomentBound: Float

        public init(decoupled: Float, coupled: Float, oneMinusB1: Float, b2: Float, oneMinusB2: Float, rootCorrection: Float, eps: Float,
                    stepSize: Float, parameterBound: Float, firstMomentBound: Float, secondMomentBound: Float) {
            (self.decoupled, self.coupled, self.oneMinusB1, self.b2, self.oneMinusB2) = (decoupled, coupled, oneMinusB1, b2, oneMinusB2)
            (self.rootCorrection, self.eps, self.stepSize) = (rootCorrection, eps, stepSize)
            (self.parameterBound, self.firstMomentBound, self.secondMomentBound) = (parameterBound, firstMomentBound, secondMomentBound)
        }
    }

    /// `count` parameters through one Adam / AdamW update in vector lanes (`rada_adam_update`):
    /// the same operations in the same order as a scalar loop, so the same bits.
    public static func adamUpdate(
        parameters: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, firstMoment: UnsafeMutablePointer<Float>,
        secondMoment: UnsafeMutablePointer<Float>, count: Int, step: AdamStep
    ) {
        var constants = rada_adam_step(
            decoupled: step.decoupled, coupled: step.coupled, one_minus_b1: step.oneMinusB1, b2: step.b2, one_minus_b2: step.oneMinusB2,
            root_correction: step.rootCorrection, eps: step.eps, step_size: step.stepSize, parameter_bound: step.parameterBound,
            first_moment_bound: step.firstMomentBound, second_moment_bound: step.secondMomentBound)
        rada_adam_update(parameters, gradient, firstMoment, secondMoment, count, &constants)
    }
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
