import RadaNumerics

/// Zero-shot CLIP: logits `s · f · tᵀ` and their softmax.
public enum ZeroShot {
    /// B×K logits for B image embeddings and K class embeddings.
    public static func logits(images: Matrix, classes: Matrix, logitScale: Float) -> Matrix {
        var out = Matrix(rows: images.rows, cols: classes.rows)
        images.storage.withUnsafeBufferPointer { f in
            classes.storage.withUnsafeBufferPointer { t in
                out.storage.withUnsafeMutableBufferPointer { z in
                    BLAS.sgemm(transB: true, m: images.rows, n: classes.rows, k: images.cols, alpha: logitScale,
                               a: f.baseAddress!, lda: images.cols, b: t.baseAddress!, ldb: classes.cols,
                               c: z.baseAddress!, ldc: classes.rows)
                }
            }
        }
        return out
    }

    /// Row-wise softmax of logits.
    public static func probabilities(_ logits: Matrix) -> Matrix {
        var p = logits
        p.storage.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: p.rows, cols: p.cols) }
        return p
    }

    /// The `k` most probable classes of one row, most probable first.
    public static func top(_ probabilities: Matrix, row: Int, k: Int) -> [(index: Int, probability: Float)] {
        let scored = (0..<probabilities.cols).map { (index: $0, probability: probabilities[row, $0]) }
        return Array(scored.sorted { $0.probability > $1.probability || ($0.probability == $1.probability && $0.index < $1.index) }
            .prefix(max(0, k)))
    }
}
