import RadaNumerics

/// Scratch buffers for one forward pass of one tower, sized once per call and reused by every
/// layer so that the hot path allocates nothing; taken from `ScratchPool.shared` and given back
/// at the end of the pass, so that the next pass finds them already faulted in. Every buffer is
/// written before it is read.
final class TransformerWorkspace {
    /// rows × width: layer-norm output, then the attention output.
    let normed: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    /// rows × 3·width.
    let qkv: UnsafeMutablePointer<Float>
    /// rows × mlpWidth.
    let hidden: UnsafeMutablePointer<Float>
    /// Attention scratch: `scoresPerThread` floats per thread (a length × length matrix of
    /// scores, or what `Kernels.attentionHead` or `attentionHeadBF16` needs).
    let scores: UnsafeMutablePointer<Float>
    let scoresPerThread: Int
    /// The threads attention and the row-wise work (layer norm, activation) are split over
    /// (`BLAS.kernelThreads` when the pass began).
    let threads: Int
    /// bf16 or fp16 copies of a projection's input rows, for towers held in those precisions (nil
    /// in fp32): one buffer, sized for the widest input, shared by every projection of the pass.
    let halfActivations: UnsafeMutablePointer<UInt16>?
    /// Stage timings of this pass, when asked for.
    let profile: TowerProfile?

    private let sizes: [Int]
    private let halfCount: Int

    /// `projection` is any of the tower's projections: its form (fp32, bf16 or fp16) sizes the
    /// rounded-input buffer.
    init(rows: Int, length: Int, tower: CLIPConfig.Tower, projection: LinearWeights?, profile: TowerProfile? = nil) {
        self.profile = profile
        threads = BLAS.kernelThreads
        halfCount = projection?.halfScratchCount(rows: rows, inputs: max(tower.width, tower.mlpWidth)) ?? 0
        halfActivations = halfCount > 0 ? ScratchPool.shared.take(UInt16.self, count: halfCount) : nil
        scoresPerThread = max(length * length, Kernels.attentionScratchCount(length: length), Kernels.attentionBF16ScratchCount(length: length))
        sizes = [
            rows * tower.width, rows * tower.width, rows * 3 * tower.width, rows * tower.mlpWidth, threads * scoresPerThread,
        ]
        let buffers = sizes.map { ScratchPool.shared.take(Float.self, count: $0) }
        normed = buffers[0]
        attention = buffers[1]
        qkv = buffers[2]
        hidden = buffers[3]
        scores = buffers[4]
    }

    deinit {
        for (pointer, size) in zip([normed, attention, qkv, hidden, scores], sizes) {
            ScratchPool.shared.give(pointer, count: size)
        }
        if let halfActivations { ScratchPool.shared.give(halfActivations, count: halfCount) }
    }
}
