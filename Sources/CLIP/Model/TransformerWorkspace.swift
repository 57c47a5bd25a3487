import RadaNumerics

/// Scratch buffers for one forward pass of one tower, sized once per call and reused by every
/// layer so that the hot path allocates nothing.
final class TransformerWorkspace {
    /// rows × width: layer-norm output, then the attention output.
    let normed: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    /// rows × 3·width.
    let qkv: UnsafeMutablePointer<Float>
    /// rows × mlpWidth.
    let hidden: UnsafeMutablePointer<Float>
    /// Attention scratch: `scoresPerThread` floats per thread (a length × length matrix of
    /// scores, or what `Kernels.attentionHead` needs).
    let scores: UnsafeMutablePointer<Float>
    let scoresPerThread: Int
    /// The threads attention and the row-wise work (layer norm, activation) are split over (the
    /// BLAS thread count when the pass began).
    let threads: Int
    /// bf16 copies of a projection's input rows, for towers held in bf16 (nil in fp32): one
    /// buffer, sized for the widest input, shared by every projection of the pass.
    let bf16Activations: UnsafeMutablePointer<UInt16>?
    /// Stage timings of this pass, when asked for.
    let profile: TowerProfile?

    private let sizes: [Int]

    init(rows: Int, length: Int, tower: CLIPConfig.Tower, bf16: Bool, profile: TowerProfile? = nil) {
        self.profile = profile
        threads = BLAS.threadCount
        bf16Activations = bf16
            ? .allocate(capacity: BF16PackedMatrix.activationCount(rows: rows, inputs: max(tower.width, tower.mlpWidth)))
            : nil
        scoresPerThread = max(length * length, Kernels.attentionScratchCount(length: length))
        sizes = [
            rows * tower.width, rows * tower.width, rows * 3 * tower.width, rows * tower.mlpWidth, threads * scoresPerThread,
        ]
        let buffers = sizes.map { size -> UnsafeMutablePointer<Float> in
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(size, 1))
            pointer.initialize(repeating: 0, count: max(size, 1))
            return pointer
        }
        normed = buffers[0]
        attention = buffers[1]
        qkv = buffers[2]
        hidden = buffers[3]
        scores = buffers[4]
    }

    deinit {
        for pointer in [normed, attention, qkv, hidden, scores] { pointer.deallocate() }
        bf16Activations?.deallocate()
    }
}
