import RadaNumerics

/// A stack of pre-LN transformer blocks run over a batch of equal-length sequences.
struct Transformer: Sendable {
    let tower: CLIPConfig.Tower
    let layers: [TransformerLayer]

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
        let width = tower.width
        let rows = sequences * length
        let headWidth = tower.headWidth
        let qkvWidth = 3 * width
        let ws = workspace
        layer.ln1.apply(x, into: ws.normed, rows: rows, eps: tower.layerNormEps)
        layer.qkv.apply(ws.normed, rows: rows, into: ws.qkv, accumulate: false)

        let scale = 1 / Float(headWidth).squareRoot()
        for sequence in 0..<sequences {
            let base = ws.qkv + sequence * length * qkvWidth
            for head in 0..<tower.heads {
                let q = base + head * headWidth
                let k = q + width
                let v = q + 2 * width
                BLAS.sgemm(
                    transB: true, m: length, n: length, k: headWidth, a: q, lda: qkvWidth, b: k, ldb: qkvWidth,
                    c: ws.scores, ldc: length)
                if causal {
                    for row in 0..<length {
                        let scores = ws.scores + row * length
                        Kernels.softmaxRows(scores, rows: 1, cols: row + 1, scale: scale)
                        (scores + row + 1).update(repeating: 0, count: length - row - 1)
                    }
                } else {
                    Kernels.softmaxRows(ws.scores, rows: length, cols: length, scale: scale)
                }
                BLAS.sgemm(
                    m: length, n: headWidth, k: length, a: ws.scores, lda: length, b: v, ldb: qkvWidth,
                    c: ws.attention + sequence * length * width + head * headWidth, ldc: width)
            }
        }
        layer.out.apply(ws.attention, rows: rows, into: x, accumulate: true)
    }

    /// x += FC2(act(FC1(LN2(x)))).
    private func mlpBlock(_ layer: TransformerLayer, _ x: UnsafeMutablePointer<Float>, rows: Int, workspace: TransformerWorkspace) {
        let ws = workspace
        layer.ln2.apply(x, into: ws.normed, rows: rows, eps: tower.layerNormEps)
        layer.fc1.apply(ws.normed, rows: rows, into: ws.hidden, accumulate: false)
        switch tower.activation {
        case .quickGelu: Kernels.quickGelu(ws.hidden, count: rows * tower.mlpWidth)
        case .gelu: Kernels.gelu(ws.hidden, count: rows * tower.mlpWidth)
        }
        layer.fc2.apply(ws.hidden, rows: rows, into: x, accumulate: true)
    }
}
