import RadaNumerics

/// The causal text transformer: token + position embeddings, transformer, final LN at the pooled
/// position, projection.
struct TextTower: Sendable {
    let vocabSize: Int
    let contextLength: Int
    /// vocabSize × width.
    let tokenEmbedding: [Float]
    /// contextLength × width.
    let positions: [Float]
    let transformer: Transformer
    let lnFinal: LayerNormWeights
    /// width × embedDim.
    let projection: [Float]
    let pooling: CLIPConfig.TextPooling

    var width: Int { transformer.tower.width }

    func embed(_ texts: [[Int]]) -> Matrix {
        let width = self.width
        // Shorter texts are padded to the longest; the causal mask keeps padding from reaching
        // any position at or before a text's own pooled token.
        let length = texts.map(\.count).max() ?? 0
        let rows = texts.count * length
        let x = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * width, 1))
        defer { x.deallocate() }
        x.initialize(repeating: 0, count: rows * width)
        tokenEmbedding.withUnsafeBufferPointer { table in
            positions.withUnsafeBufferPointer { pos in
                for (index, ids) in texts.enumerated() {
                    for (t, id) in ids.enumerated() {
                        let out = x + (index * length + t) * width
                        let token = table.baseAddress! + id * width
                        let position = pos.baseAddress! + t * width
                        for i in 0..<width { out[i] = token[i] + position[i] }
                    }
                }
            }
        }
        let workspace = transformer.makeWorkspace(rows: rows, length: length)
        let pooled = texts.map { Self.poolIndex($0, pooling) }
        transformer(x, sequences: texts.count, length: length, causal: true, keeping: pooled, workspace: workspace)
        return pooledProjection(
            x, count: texts.count, width: width, norm: lnFinal, eps: transformer.tower.layerNormEps,
            projection: projection)
    }

    /// The position whose final state represents `ids`, by the checkpoint's rule.
    static func poolIndex(_ ids: [Int], _ pooling: CLIPConfig.TextPooling) -> Int {
        switch pooling {
        case .argmaxTokenId:
            return Kernels.argmax(ids)
        case .firstOccurrence(let token):
            return ids.firstIndex(of: token) ?? 0
        case .last:
            return ids.count - 1
        }
    }
}
