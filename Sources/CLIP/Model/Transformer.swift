import CNumerics
import RadaNumerics

/// A stack of pre-LN transformer blocks run over a batch of equal-length sequences.
struct Transformer: Sendable {
    let tower: CLIPConfig.Tower
    let layers: [TransformerLayer]

    /// Scratch for one pass over `rows` rows of sequences of `length`.
    func makeWorkspace(rows: Int, length: Int, profile: TowerProfile? = nil) -> TransformerWorkspace {
        TransformerWorkspace(rows: rows, length: length, tower: tower, bf16: layers.first?.qkv.bf16 != nil, profile: profile)
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
        ws.profile.measure(.layerNorm) { layer.ln1.apply(x, into: ws.normed, rows: rows, eps: tower.layerNormEps) }
        ws.profile.measure(.qkv) {
            layer.qkv.apply(ws.normed, rows: rows, into: ws.qkv, accumulate: false, bf16Scratch: ws.bf16Activations)
        }
        ws.profile.measure(.attention) {
            attention(sequences: sequences, length: length, causal: causal, workspace: ws)
        }
        ws.profile.measure(.outProjection) {
            layer.out.apply(ws.attention, rows: rows, into: x, accumulate: true, bf16Scratch: ws.bf16Activations)
        }
    }

    /// Multi-head attention from `ws.qkv` into `ws.attention`.
    private func attention(sequences: Int, length: Int, causal: Bool, workspace ws: TransformerWorkspace) {
        let width = tower.width
        let headWidth = tower.headWidth
        let qkvWidth = 3 * width
        let scale = 1 / Float(headWidth).squareRoot()
        if length > Self.fusedAttentionMaxLength {
            for sequence in 0..<sequences {
                for head in 0..<tower.heads {
                    let q = ws.qkv + sequence * length * qkvWidth + head * headWidth
                    blasAttentionHead(
                        q, length: length, causal: causal, scale: scale,
                        into: ws.attention + sequence * length * width + head * headWidth, workspace: ws)
                }
            }
        } else {
            // Each (sequence, head) pair is independent: split the pairs over the BLAS threads,
            // each with its own row of scratch scores.
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
                        causal ? 1 : 0, scratch, ws.attention + sequence * length * width + head * headWidth,
                        Int32(width))
                }
            }
        }
    }

    /// The longest sequence for the fused query-by-query attention kernel. Longer ones (ViT-B/16:
    /// 197 tokens) go through BLAS: measured on B/16, the fused kernel's dot products took ~20 %
    /// of the tower's time, several times what two GEMMs per head cost.
    static let fusedAttentionMaxLength = 64

    /// One head through BLAS: scores = Q·Kᵀ, softmax (masked when causal), out = P·V; OpenBLAS
    /// threads the GEMMs itself, so heads run one after another.
    private func blasAttentionHead(
        _ q: UnsafeMutablePointer<Float>, length: Int, causal: Bool, scale: Float, into out: UnsafeMutablePointer<Float>,
        workspace ws: TransformerWorkspace
    ) {
        let width = tower.width
        let qkvWidth = 3 * width
        BLAS.sgemm(
            transB: true, m: length, n: length, k: tower.headWidth, a: q, lda: qkvWidth, b: q + width, ldb: qkvWidth,
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
            m: length, n: tower.headWidth, k: length, a: ws.scores, lda: length, b: q + 2 * width, ldb: qkvWidth,
            c: out, ldc: width)
    }

    /// x += FC2(act(FC1(LN2(x)))).
    private func mlpBlock(_ layer: TransformerLayer, _ x: UnsafeMutablePointer<Float>, rows: Int, workspace: TransformerWorkspace) {
        let ws = workspace
        ws.profile.measure(.layerNorm) { layer.ln2.apply(x, into: ws.normed, rows: rows, eps: tower.layerNormEps) }
        ws.profile.measure(.fc1) {
            layer.fc1.apply(ws.normed, rows: rows, into: ws.hidden, accumulate: false, bf16Scratch: ws.bf16Activations)
        }
        ws.profile.measure(.activation) {
            switch tower.activation {
            case .quickGelu: Kernels.quickGelu(ws.hidden, count: rows * tower.mlpWidth)
            case .gelu: Kernels.gelu(ws.hidden, count: rows * tower.mlpWidth)
            }
        }
        ws.profile.measure(.fc2) {
            layer.fc2.apply(ws.hidden, rows: rows, into: x, accumulate: true, bf16Scratch: ws.bf16Activations)
        }
    }
}
