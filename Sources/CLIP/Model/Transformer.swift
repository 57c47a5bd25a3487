import RadaNumerics

/// A stack of pre-LN transformer blocks run over a batch of equal-length sequences.
struct Transformer: Sendable {
    let tower: CLIPConfig.Tower
    let layers: [TransformerLayer]

    /// Scratch for one pass over `rows` rows of sequences of `length`.
    func makeWorkspace(rows: Int, length: Int, profile: TowerProfile? = nil) -> TransformerWorkspace {
        TransformerWorkspace(rows: rows, length: length, tower: tower, projection: layers.first?.qkv, profile: profile)
    }

    /// Runs every layer in place on `x` (`sequences · length` rows × width). With `causal`, each
    /// position attends only to itself and earlier positions, so trailing padding cannot change
    /// the states before it.
    func callAsFunction(
        _ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, causal: Bool, workspace: TransformerWorkspace
    ) {
        for layer in layers {
            attentionBlock(layer, x, sequences: sequences, length: length, causal: causal, workspace: workspace)
            mlpBlock(layer, x, rows: sequences * length, workspace: workspace)
        }
    }

    /// x += OutProj(MultiHeadAttention(LN1(x))).
    private func attentionBlock(
        _ layer: TransformerLayer, _ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, causal: Bool,
        workspace: TransformerWorkspace
    ) {
        let rows = sequences * length
        let ws = workspace
        ws.profile.measure(.layerNorm) { layerNorm(layer.ln1, x, rows: rows, workspace: ws) }
        ws.profile.measure(.qkv) {
            layer.qkv.apply(ws.normed, rows: rows, into: ws.qkv, accumulate: false, halfScratch: ws.halfActivations)
        }
        ws.profile.measure(.attention) {
            attention(sequences: sequences, length: length, causal: causal, workspace: ws)
        }
        ws.profile.measure(.outProjection) {
            layer.out.apply(ws.attention, rows: rows, into: x, accumulate: true, halfScratch: ws.halfActivations)
        }
    }

    /// Multi-head attention from `ws.qkv` into `ws.attention`.
    private func attention(sequences: Int, length: Int, causal: Bool, workspace ws: TransformerWorkspace) {
        let width = tower.width
        let headWidth = tower.headWidth
        let qkvWidth = 3 * width
        let scale = 1 / Float(headWidth).squareRoot()
        // Each (sequence, head) pair is independent: the pairs are split over the BLAS threads,
        // each with its own length × length scores, its two products on the caller-thread
        // library. A pair is computed the same way whichever thread takes it, so the result
        // does not depend on the thread count.
        let pairs = sequences * tower.heads
        let parts = min(ws.threads, pairs)
        let heads = tower.heads
        let fused = Kernels.attentionHeadSupported(headWidth: headWidth)
        BLAS.parallel(parts: parts) { part in
            BLAS.onCallerThread {
                let scores = ws.scores + part * ws.scoresPerThread
                for pair in (pairs * part / parts)..<(pairs * (part + 1) / parts) {
                    let (sequence, head) = pair.quotientAndRemainder(dividingBy: heads)
                    let q = ws.qkv + sequence * length * qkvWidth + head * headWidth
                    let out = ws.attention + sequence * length * width + head * headWidth
                    if fused {
                        Kernels.attentionHead(
                            length: length, q: q, k: q + width, v: q + 2 * width, ld: qkvWidth, scale: scale, causal: causal,
                            scratch: scores, into: out, ldo: width)
                    } else {
                        attentionHead(q, length: length, causal: causal, scale: scale, scores: scores, into: out)
                    }
                }
            }
        }
    }

    /// One head of one sequence where `Kernels.attentionHead` does not run: scores = Q·Kᵀ,
    /// softmax (masked when causal), out = P·V. Two small products and a softmax (measured on
    /// ViT-B/32's 50 tokens: 14 µs per head on BLIS, against 33 µs for a fused query-by-query
    /// loop of dot products).
    private func attentionHead(
        _ q: UnsafeMutablePointer<Float>, length: Int, causal: Bool, scale: Float, scores: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        let width = tower.width
        let qkvWidth = 3 * width
        BLAS.sgemm(
            transB: true, m: length, n: length, k: tower.headWidth, a: q, lda: qkvWidth, b: q + width, ldb: qkvWidth,
            c: scores, ldc: length)
        if causal {
            for row in 0..<length {
                let rowScores = scores + row * length
                Kernels.softmaxRows(rowScores, rows: 1, cols: row + 1, scale: scale)
                (rowScores + row + 1).update(repeating: 0, count: length - row - 1)
            }
        } else {
            Kernels.softmaxRows(scores, rows: length, cols: length, scale: scale)
        }
        BLAS.sgemm(
            m: length, n: tower.headWidth, k: length, a: scores, lda: length, b: q + 2 * width, ldb: qkvWidth,
            c: out, ldc: width)
    }

    /// x += FC2(act(FC1(LN2(x)))).
    private func mlpBlock(_ layer: TransformerLayer, _ x: UnsafeMutablePointer<Float>, rows: Int, workspace: TransformerWorkspace) {
        let ws = workspace
        ws.profile.measure(.layerNorm) { layerNorm(layer.ln2, x, rows: rows, workspace: ws) }
        ws.profile.measure(.fc1) {
            layer.fc1.apply(ws.normed, rows: rows, into: ws.hidden, accumulate: false, halfScratch: ws.halfActivations)
        }
        ws.profile.measure(.activation) {
            let width = tower.mlpWidth
            splitRows(rows, width: width, threads: ws.threads) { start, count in
                switch tower.activation {
                case .quickGelu: Kernels.quickGelu(ws.hidden + start * width, count: count * width)
                case .gelu: Kernels.gelu(ws.hidden + start * width, count: count * width)
                }
            }
        }
        ws.profile.measure(.fc2) {
            layer.fc2.apply(ws.hidden, rows: rows, into: x, accumulate: true, halfScratch: ws.halfActivations)
        }
    }

    /// `ws.normed` = LN(x), rows split over the threads.
    private func layerNorm(_ norm: LayerNormWeights, _ x: UnsafeMutablePointer<Float>, rows: Int, workspace ws: TransformerWorkspace) {
        splitRows(rows, width: tower.width, threads: ws.threads) { start, count in
            norm.apply(x + start * tower.width, into: ws.normed + start * tower.width, rows: count, eps: tower.layerNormEps)
        }
    }

    /// Runs `body(start, count)` over `rows` rows of `width` values in contiguous parts, one per
    /// thread, for the row-wise work between the projections (layer norm, activation). Each row
    /// is computed the same way whichever part holds it, so results do not depend on the thread
    /// count. Below 64 Ki values (one image's layer norm) a hand-off costs more than it saves.
    private func splitRows(_ rows: Int, width: Int, threads: Int, _ body: (_ start: Int, _ count: Int) -> Void) {
        let parts = rows * width < 1 << 16 ? 1 : min(threads, rows)
        BLAS.parallel(parts: parts) { part in
            let start = rows * part / parts
            body(start, rows * (part + 1) / parts - start)
        }
    }
}
