/// The cost model of one adaptation step, counted in GEMM floating-point operations: what the
/// server ranks requests by (`StreamState.stepFLOPs`) and what the speed benchmark divides its
/// times into. Heads do not change the count (they split D, not the work).
public enum StepCost {
    /// Multiply-adds ×2 of the GEMMs in one predict-then-adapt step: the prediction forward
    /// (`8KD² + 8K²D` per image plus `2KD² + 2BD²` for queries 1 and 2), the backward pass's
    /// recomputation of every chunk but the one the prediction left in its workspace (per image
    /// as the forward, plus queries 1 and 2 again), and the backward itself (`10KD² + 18K²D` per
    /// image, the attention weights recomputed included, plus `2KD² + 2BD²` for the query weight
    /// gradients). Chunks hold `max(1, min(B, chunkRows/K))` images.
    public static func flops(batch: Int, classes: Int, dimension: Int, chunkRows: Int = RAdaHyperparameters().chunkRows) -> Double {
        let b = Double(batch), k = Double(classes), d = Double(dimension)
        let perChunk = max(1, min(batch, chunkRows / classes))
        let lastChunk = batch % perChunk == 0 ? perChunk : batch % perChunk
        let recomputed = Double(batch - lastChunk)
        let perImageForward = 8 * k * d * d + 8 * k * k * d
        let batchQueries = 2 * k * d * d + 2 * b * d * d
        let forward = b * perImageForward + batchQueries
        let recompute = recomputed * perImageForward + batchQueries
        let backward = b * (10 * k * d * d + 18 * k * k * d) + batchQueries
        return forward + recompute + backward
    }
}
