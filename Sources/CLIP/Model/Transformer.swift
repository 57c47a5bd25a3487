import Numerics

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
        layer.ln1Gamma.withUnsafeBufferPointer { gamma in
            layer.ln1Beta.withUnsafeBufferPointer { beta in
                Kernels.layerNormRows(
                    x, into: ws.normed, gamma: gamma.baseAddress!, beta: beta.baseAddress!, rows: rows, cols: width,
                    eps: tower.layerNormEps)
            }
        }
        linear(ws.normed, rows: rows, inputs: width, weight: layer.qkvWeight, bias: layer.qkvBias, into: ws.qkv,
               outputs: qkvWidth, accumulate: false)

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
        linear(ws.attention, rows: rows, inputs: width, weight: layer.outWeight, bias: layer.outBias, into: x,
               outputs: width, accumulate: true)
    }

    /// x += FC2(act(FC1(LN2(x)))).
    private func mlpBlock(_ layer: TransformerLayer, _ x: UnsafeMutablePointer<Float>, rows: Int, workspace: TransformerWorkspace) {
        let width = tower.width
        let ws = workspace
        layer.ln2Gamma.withUnsafeBufferPointer { gamma in
            layer.ln2Beta.withUnsafeBufferPointer { beta in
                Kernels.layerNormRows(
                    x, into: ws.normed, gamma: gamma.baseAddress!, beta: beta.baseAddress!, rows: rows, cols: width,
                    eps: tower.layerNormEps)
            }
        }
        linear(ws.normed, rows: rows, inputs: width, weight: layer.fc1Weight, bias: layer.fc1Bias, into: ws.hidden,
               outputs: tower.mlpWidth, accumulate: false)
        switch tower.activation {
        case .quickGelu: Kernels.quickGelu(ws.hidden, count: rows * tower.mlpWidth)
        case .gelu: Kernels.gelu(ws.hidden, count: rows * tower.mlpWidth)
        }
        linear(ws.hidden, rows: rows, inputs: tower.mlpWidth, weight: layer.fc2Weight, bias: layer.fc2Bias, into: x,
               outputs: width, accumulate: true)
    }
}

/// `out (+)= input · weight + bias` with `weight` stored inputs × outputs.
func linear(
    _ input: UnsafePointer<Float>, rows: Int, inputs: Int, weight: [Float], bias: [Float]?,
    into out: UnsafeMutablePointer<Float>, outputs: Int, accumulate: Bool
) {
    weight.withUnsafeBufferPointer { w in
        BLAS.sgemm(
            m: rows, n: outputs, k: inputs, a: input, lda: inputs, b: w.baseAddress!, ldb: outputs,
            beta: accumulate ? 1 : 0, c: out, ldc: outputs)
    }
    bias?.withUnsafeBufferPointer { b in Kernels.addBiasRows(out, bias: b.baseAddress!, rows: rows, cols: outputs) }
}
