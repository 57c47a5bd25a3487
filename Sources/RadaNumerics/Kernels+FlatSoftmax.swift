import CNumerics

extension Kernels {
    /// Softmax of `count` contiguous values as ONE distribution, after multiplying by `scale`
    /// (> 0), in place. Vectorised maximum and sum: meant for long runs such as a flattened
    /// K×K attention map, where `softmaxRows(rows: 1, …)` is limited by its scalar accumulators.
    public static func softmaxFlat(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        precondition(scale > 0, "softmaxFlat needs a positive scale, got \(scale)")
        rada_softmax_flat(x, count, scale)
    }
}
