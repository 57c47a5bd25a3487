import CNumerics
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

        // Each (sequence, head) pair is independent: split the pairs over the BLAS threads, each
        // with its own row of scratch scores.
        let scale = 1 / Float(headWidth).squareRoot()
        let pairs = sequences * tower.heads
        let parts = min(ws.threads, pairs)
        let heads = tower.heads
        BLAS.parallel(parts: parts) { part in
            let scratch = ws.scores + part * length
            for pair in (pairs * part / parts)..<(pairs * (part + 1) / parts) {
                let (sequence, head) = pair.quotientAndRemainder(dividingBy: heads)
                let q = ws.qkv + sequence * length * qkvWidth + head * headWidth
                rada_attention_head(
                    q, q + width, q + 2 * width, Int32(qkvWidth), Int32(length), Int32(headWidth), scale,
                    causal ? 1 : 0, scratch, ws.attention + sequence * length * width + head * headWidth, Int32(width))
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
