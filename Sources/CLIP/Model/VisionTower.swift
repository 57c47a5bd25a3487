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
        let pooled = classTokens(pixels: pixels, count: count, profile: profile)
        return profile.measure(.head) { projectRows(pooled, projection: projection) }
    }

    /// The layer-normalised class token of each image after the blocks (count × width).
    private func classTokens(pixels: UnsafePointer<Float>, count: Int, profile: TowerProfile?) -> Matrix {
        let threads = BLAS.kernelThreads
        guard profile == nil, threads > 1, count >= 2 * threads, patchEmbedding.runsOnOwnKernels else {
            return classTokensTogether(pixels: pixels, count: count, profile: profile)
        }
        // Enough images for each thread to fill its own products (at least two, 100 rows): each
        // thread takes its share of the images through the blocks alone, so no step waits on
        // another thread. Splitting every product and row-wise step instead hands work over ~120
        // times per pass, each as slow as the slower thread; in three sets of alternating runs
        // (fp16, batch 8, Intel without AMX) the split by images was 1–4 % faster (medians). The
        // bits are the same either way: rada's kernels compute each row alone, and the final
        // projection (a BLAS product) runs once for all images, as in one pass.
        let perImage = channels * imageSize * imageSize
        var shares = [Matrix?](repeating: nil, count: threads)
        shares.withUnsafeMutableBufferPointer { shares in
            nonisolated(unsafe) let shares = shares
            BLAS.parallel(parts: threads) { part in
                let first = count * part / threads, end = count * (part + 1) / threads
                shares[part] = BLAS.serially {
                    classTokensTogether(pixels: pixels + first * perImage, count: end - first, profile: nil)
                }
            }
        }
        let rows = shares.map { $0! }
        return Matrix(rows: count, cols: width, storage: rows.flatMap(\.storage))
    }

    /// One pass over all `count` images, each step split over the kernel threads.
    private func classTokensTogether(pixels: UnsafePointer<Float>, count: Int, profile: TowerProfile?) -> Matrix {
        let width = self.width
        let tokens = self.tokens
        let pool = ScratchPool.shared
        let x = pool.take(Float.self, count: count * tokens * width)
        defer { pool.give(x, count: count * tokens * width) }
        embedPatches(pixels, count: count, into: x, profile: profile)
        let rows = count * tokens
        profile.measure(.layerNorm) { lnPre.apply(x, into: x, rows: rows, eps: transformer.tower.layerNormEps) }
        let workspace = transformer.makeWorkspace(rows: rows, length: tokens, profile: profile)
        transformer(
            x, sequences: count, length: tokens, causal: false, keeping: Array(repeating: 0, count: count),
            workspace: workspace)
        return profile.measure(.head) {
            pooledRows(x, count: count, width: width, norm: lnPost, eps: transformer.tower.layerNormEps)
        }
    }

    /// Patch embedding, class token and positions of `count` images into `x` (tokens × width each).
    /// The patches of every image go through one product (count · patches rows): one 49-row
    /// product per image ran at a fraction of the GEMM rate (7 % of a bf16 batch-8 pass). The
    /// unfolding and the copy into `x` are split over the threads by image.
    private func embedPatches(
        _ pixels: UnsafePointer<Float>, count: Int, into x: UnsafeMutablePointer<Float>, profile: TowerProfile?
    ) {
        let width = self.width, tokens = self.tokens, patchCount = grid * grid
        let patchLength = channels * patchSize * patchSize
        let pool = ScratchPool.shared
        let patchValues = count * patchCount * patchLength, projectedValues = count * patchCount * width
        let halfValues = patchEmbedding.halfScratchCount(rows: count * patchCount, inputs: patchLength)
        let patches = pool.take(Float.self, count: patchValues)
        let projected = pool.take(Float.self, count: projectedValues)
        let halfScratch = halfValues > 0 ? pool.take(UInt16.self, count: halfValues) : nil
        defer {
            pool.give(patches, count: patchValues)
            pool.give(projected, count: projectedValues)
            if let halfScratch { pool.give(halfScratch, count: halfValues) }
        }
        profile.measure(.patchUnfolding) {
            forEachImage(count) { image in
                unfold(pixels + image * channels * imageSize * imageSize, into: patches + image * patchCount * patchLength)
            }
        }
        profile.measure(.patchProduct) {
            patchEmbedding.apply(patches, rows: count * patchCount, into: projected, accumulate: false, halfScratch: halfScratch)
        }
        profile.measure(.patchUnfolding) { placeTokens(projected, count: count, into: x) }
    }

    /// `x` = [class token; the projected patches] + positions for each of `count` images.
    private func placeTokens(_ projected: UnsafePointer<Float>, count: Int, into x: UnsafeMutablePointer<Float>) {
        let width = self.width, tokens = self.tokens, patchCount = grid * grid
        classEmbedding.withUnsafeBufferPointer { classToken in
            positions.withUnsafeBufferPointer { pos in
                forEachImage(count) { image in
                    let sequence = x + image * tokens * width
                    let source = projected + image * patchCount * width
                    for i in 0..<width { sequence[i] = classToken[i] + pos[i] }
                    for i in width..<(tokens * width) { sequence[i] = source[i - width] + pos[i] }
                }
            }
        }
    }

    /// Runs `body(image)` for each of `count` images, in contiguous parts over the kernel threads.
    private func forEachImage(_ count: Int, _ body: (Int) -> Void) {
        let parts = min(BLAS.kernelThreads, count)
        BLAS.parallel(parts: parts) { part in
            for image in (count * part / parts)..<(count * (part + 1) / parts) { body(image) }
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

/// The first `count` rows of `x` (the states the transformer kept) layer-normalised, projected and
/// L2-normalised: the common tail of both towers.
func pooledProjection(
    _ x: UnsafePointer<Float>, count: Int, width: Int, norm: LayerNormWeights, eps: Float, projection: [Float]
) -> Matrix {
    projectRows(pooledRows(x, count: count, width: width, norm: norm, eps: eps), projection: projection)
}

/// The first `count` rows of `x` (width values each), layer-normalised, copied out of the pass's
/// scratch.
func pooledRows(_ x: UnsafePointer<Float>, count: Int, width: Int, norm: LayerNormWeights, eps: Float) -> Matrix {
    var pooled = Matrix(rows: count, cols: width)
    pooled.storage.withUnsafeMutableBufferPointer { out in
        norm.apply(x, into: out.baseAddress!, rows: count, eps: eps)
    }
    return pooled
}

/// `pooled` · the projection (width × embedDim), rows L2-normalised; one product per row. BLAS
/// picks its kernels by the number of rows, so as one product over a batch an image's embedding
/// had other last bits in a batch of 4 than alone, and others again in a batch of 12 (measured
/// with OpenBLAS on AVX2); per row, a text or image embeds the same in any batch. The product is
/// width × embedDim per row, nothing beside the tower's.
func projectRows(_ pooled: Matrix, projection: [Float]) -> Matrix {
    let width = pooled.cols, dimension = projection.count / width
    var embedded = Matrix(rows: pooled.rows, cols: dimension)
    pooled.storage.withUnsafeBufferPointer { a in
        projection.withUnsafeBufferPointer { b in
            embedded.storage.withUnsafeMutableBufferPointer { c in
                for row in 0..<pooled.rows {
                    BLAS.sgemm(
                        m: 1, n: dimension, k: width, a: a.baseAddress! + row * width, lda: width, b: b.baseAddress!, ldb: dimension,
                        c: c.baseAddress! + row * dimension, ldc: dimension)
                }
            }
        }
    }
    embedded.normalizeRows()
    return embedded
}
