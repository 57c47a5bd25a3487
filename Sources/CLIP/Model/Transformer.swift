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
    ///
    /// With `keeping` (one position per sequence), the last layer runs only as far as the states
    /// at those positions need it, and leaves them in x's first `sequences` rows (the other rows
    /// are then scratch). A tower is read at one token per sequence, and the other tokens'
    /// attention output, MLP and residual in the last layer are never read: 9 of its 12 width²
    /// products per token. Every kept state has the bits of the whole pass where rada's own
    /// kernels run (its products and the fused attention head compute each row alone), and the
    /// values of the whole pass to the library's rounding elsewhere.
    func callAsFunction(
        _ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, causal: Bool, keeping positions: [Int]? = nil,
        workspace: TransformerWorkspace
    ) {
        if let positions {
            precondition(positions.count == sequences, "one kept position per sequence")
            precondition(positions.allSatisfy { (0..<length).contains($0) }, "a kept position outside its sequence")
        }
        for (index, layer) in layers.enumerated() {
            let kept = index == layers.count - 1 ? positions : nil
            attentionBlock(layer, x, sequences: sequences, length: length, causal: causal, keeping: kept, workspace: workspace)
            mlpBlock(layer, x, rows: kept == nil ? sequences * length : sequences, workspace: workspace)
        }
        if layers.isEmpty, let positions { keepRows(x, sequences: sequences, length: length, positions: positions) }
    }

    /// x += OutProj(MultiHeadAttention(LN1(x))); with `keeping`, only for those rows, which end
    /// in x's first rows.
    private func attentionBlock(
        _ layer: TransformerLayer, _ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, causal: Bool,
        keeping positions: [Int]?, workspace: TransformerWorkspace
    ) {
        let rows = sequences * length
        let ws = workspace
        // Every row's keys and values are needed; the queries of the rows not kept are not. The
        // query columns are a quarter of this product and stay in it: a product over a column
        // range would need the packed panels split.
        ws.profile.measure(.layerNorm) { layerNorm(layer.ln1, x, rows: rows, workspace: ws) }
        ws.profile.measure(.qkv) {
            layer.qkv.apply(ws.normed, rows: rows, into: ws.qkv, accumulate: false, halfScratch: ws.halfActivations)
        }
        ws.profile.measure(.attention) {
            attention(sequences: sequences, length: length, causal: causal, keeping: positions, workspace: ws)
        }
        let outRows: Int
        if let positions {
            keepRows(x, sequences: sequences, length: length, positions: positions)
            outRows = sequences
        } else {
            outRows = rows
        }
        ws.profile.measure(.outProjection) {
            layer.out.apply(ws.attention, rows: outRows, into: x, accumulate: true, halfScratch: ws.halfActivations)
        }
    }

    /// Moves row `positions[s]` of each sequence s to row s of x. In order of s, a row is never
    /// overwritten before it is read: row s's source, s · length + positions[s], is at or after s.
    private func keepRows(_ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, positions: [Int]) {
        let width = tower.width
        for (sequence, position) in positions.enumerated() where sequence * length + position != sequence {
            (x + sequence * width).update(from: x + (sequence * length + position) * width, count: width)
        }
    }

    /// Multi-head attention from `ws.qkv` into `ws.attention`: every row, or with `keeping` the
    /// query at one position per sequence, into `ws.attention`'s row for that sequence.
    private func attention(
        sequences: Int, length: Int, causal: Bool, keeping positions: [Int]?, workspace ws: TransformerWorkspace
    ) {
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
        let fused = Kernels.attentionHeadKernel(headWidth: headWidth)
        // A tower held in bf16 runs its heads' two products in bf16 as well where that is faster
        // (`TowerPrecision.attentionHeadBF16Kernel`), within the cosine its projections promise.
        let bf16 = headWidth == Kernels.attentionHeadWidth
            ? layers.first?.qkv.bf16.flatMap { TowerPrecision.bfloat16($0.kernel).attentionHeadBF16Kernel() } : nil
        BLAS.parallel(parts: parts) { part in
            BLAS.onCallerThread {
                let scores = ws.scores + part * ws.scoresPerThread
                for pair in (pairs * part / parts)..<(pairs * (part + 1) / parts) {
                    let (sequence, head) = pair.quotientAndRemainder(dividingBy: heads)
                    let q = ws.qkv + sequence * length * qkvWidth + head * headWidth
                    let queries = positions.map { $0[sequence]..<($0[sequence] + 1) } ?? 0..<length
                    let outRow = positions == nil ? sequence * length : sequence
                    let out = ws.attention + outRow * width + head * headWidth
                    if let bf16 {
                        Kernels.attentionHeadBF16(
                            length: length, queries: queries, q: q, k: q + width, v: q + 2 * width, ld: qkvWidth,
                            scale: scale, causal: causal, scratch: scores, into: out, ldo: width, kernel: bf16)
                    } else if let fused {
                        Kernels.attentionHead(
                            length: length, queries: queries, q: q, k: q + width, v: q + 2 * width, ld: qkvWidth,
                            scale: scale, causal: causal, scratch: scores, into: out, ldo: width, kernel: fused)
                    } else {
                        attentionHead(q, length: length, queries: queries, causal: causal, scale: scale, scores: scores, into: out)
                    }
                }
            }
        }
    }

    /// One head of one sequence where `Kernels.attentionHead` does not run: scores = Q·Kᵀ,
    /// softmax (masked when causal), out = P·V, for the query rows `queries` into `out`'s rows
    /// from 0. Two small products and a softmax (measured on ViT-B/32's 50 tokens: 14 µs per head
    /// on BLIS, against 33 µs for a fused query-by-query loop of dot products).
    private func attentionHead(
        _ q: UnsafeMutablePointer<Float>, length: Int, queries: Range<Int>, causal: Bool, scale: Float,
        scores: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        let width = tower.width
        let qkvWidth = 3 * width
        let rows = queries.count
        BLAS.sgemm(
            transB: true, m: rows, n: length, k: tower.headWidth, a: q + queries.lowerBound * qkvWidth, lda: qkvWidth,
            b: q + width, ldb: qkvWidth, c: scores, ldc: length)
        if causal {
            for (row, query) in queries.enumerated() {
                let rowScores = scores + row * length
                Kernels.softmaxRows(rowScores, rows: 1, cols: query + 1, scale: scale)
                (rowScores + query + 1).update(repeating: 0, count: length - query - 1)
            }
        } else {
            Kernels.softmaxRows(scores, rows: rows, cols: length, scale: scale)
        }
        BLAS.sgemm(
            m: rows, n: tower.headWidth, k: length, a: scores, lda: length, b: q + 2 * width, ldb: qkvWidth,
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
