import CNumerics

extension Kernels {
    /// Softmax of `count` contiguous values as ONE distribution, after multiplying by `scale`
    /// (> 0), in place. Exponentials and their sum in one pass: meant for long runs such as a
    /// flattened K×K attention map (in L3), where `softmaxRows(rows: 1, …)` passes over it three
    /// times.
    public static func softmaxFlat(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        precondition(scale > 0, "softmaxFlat needs a positive scale, got \(scale)")
        rada_softmax_flat(x, count, scale)
    }
}
