import RadaNumerics

/// The ViT image tower: patch GEMM, class token, positions, pre-LN, transformer, post-LN on the
/// class token, projection.
struct VisionTower: Sendable {
    let imageSize: Int
    let patchSize: Int
    let channels: Int
    /// (channels · patch · patch) × width: the patch convolution as a product over unfolded
    /// patches, rows ordered (channel, y, x) like the convolution kernel; a zero bias (the
    /// convolution has none). In the towers' precision, like the blocks' projections.
    let patchEmbedding: LinearWeights
    let classEmbedding: [Float]
    /// tokens × width.
    let positions: [Float]
    let lnPre: LayerNormWeights
    let transformer: Transformer
    let lnPost: LayerNormWeights
    /// width × embedDim.
    let projection: [Float]

    var grid: Int { imageSize / patchSize }
    var tokens: Int { grid * grid + 1 }
    var width: Int { transformer.tower.width }

    /// Embeds `count` CHW images; returns count × embedDim with L2-normalised rows. `profile`,
    /// when given, collects the time of each stage.
    func embed(pixels: UnsafePointer<Float>, count: Int, profile: TowerProfile? = nil) -> Matrix {
        let width = self.width
        let tokens = self.tokens
        let patchCount = grid * grid
        let patchLength = channels * patchSize * patchSize
        let x = UnsafeMutablePointer<Float>.allocate(capacity: count * tokens * width)
        let patches = UnsafeMutablePointer<Float>.allocate(capacity: count * patchCount * patchLength)
        defer {
            x.deallocate()
            patches.deallocate()
        }
        profile.measure(.patchEmbedding) {
            embedPatches(pixels, count: count, into: x, patches: patches)
        }
        let rows = count * tokens
        profile.measure(.layerNorm) { lnPre.apply(x, into: x, rows: rows, eps: transformer.tower.layerNormEps) }
        let workspace = transformer.makeWorkspace(rows: rows, length: tokens, profile: profile)
        transformer(x, sequences: count, length: tokens, causal: false, workspace: workspace)
        return profile.measure(.head) {
            pooledProjection(
                x, positions: (0..<count).map { $0 * tokens }, width: width, norm: lnPost,
                eps: transformer.tower.layerNormEps, projection: projection)
        }
    }

    /// Patch embedding, class token and positions of `count` images into `x` (tokens × width each).
    /// The patches of every image go through one product (count · patches rows): one 49-row
    /// product per image ran at a fraction of the GEMM rate (7 % of a bf16 batch-8 pass).
    /// `patches` holds count · patches · (channels · patch²) values.
    private func embedPatches(_ pixels: UnsafePointer<Float>, count: Int, into x: UnsafeMutablePointer<Float>, patches: UnsafeMutablePointer<Float>) {
        let width = self.width, tokens = self.tokens, patchCount = grid * grid
        let patchLength = channels * patchSize * patchSize
        for image in 0..<count {
            unfold(pixels + image * channels * imageSize * imageSize, into: patches + image * patchCount * patchLength)
        }
        let projected = UnsafeMutablePointer<Float>.allocate(capacity: count * patchCount * width)
        defer { projected.deallocate() }
        patchEmbedding.apply(patches, rows: count * patchCount, into: projected, accumulate: false, bf16Scratch: nil)
        for image in 0..<count {
            let sequence = x + image * tokens * width
            (sequence + width).update(from: projected + image * patchCount * width, count: patchCount * width)
            classEmbedding.withUnsafeBufferPointer { sequence.update(from: $0.baseAddress!, count: width) }
            positions.withUnsafeBufferPointer { pos in
                for i in 0..<(tokens * width) { sequence[i] += pos[i] }
            }
        }
    }

    /// Copies the image's patches into rows of `channels · patch · patch` values (im2col).
    private func unfold(_ image: UnsafePointer<Float>, into patches: UnsafeMutablePointer<Float>) {
        let patchLength = channels * patchSize * patchSize
        for py in 0..<grid {
            for px in 0..<grid {
                var out = patches + (py * grid + px) * patchLength
                for channel in 0..<channels {
                    for y in 0..<patchSize {
                        let row = image + (channel * imageSize + py * patchSize + y) * imageSize + px * patchSize
                        out.update(from: row, count: patchSize)
                        out += patchSize
                    }
                }
            }
        }
    }
}

/// Gathers the given rows of `x`, layer-normalises them, projects them and L2-normalises the
/// result: the common tail of both towers.
func pooledProjection(
    _ x: UnsafePointer<Float>, positions: [Int], width: Int, norm: LayerNormWeights, eps: Float, projection: [Float]
) -> Matrix {
    var pooled = Matrix(rows: positions.count, cols: width)
    pooled.storage.withUnsafeMutableBufferPointer { out in
        for (row, position) in positions.enumerated() {
            (out.baseAddress! + row * width).update(from: x + position * width, count: width)
        }
        norm.apply(out.baseAddress!, into: out.baseAddress!, rows: positions.count, eps: eps)
    }
    var embedded = pooled.matmul(Matrix(rows: width, cols: projection.count / width, storage: projection))
    embedded.normalizeRows()
    return embedded
}
