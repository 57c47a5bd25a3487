import RadaNumerics
@testable import Adaptation

/// Seeded synthetic data: K class embeddings and images that lie near their class (plus noise).
struct SyntheticTask {
    let classes: Int
    let dimension: Int
    var generator: SeededGenerator
    let text: Matrix

    init(classes: Int, dimension: Int, seed: UInt64 = 3) {
        self.classes = classes
        self.dimension = dimension
        generator = SeededGenerator(seed: seed)
        var t = Matrix(rows: classes, cols: dimension)
        for i in 0..<t.storage.count { t.storage[i] = Float(generator.nextSymmetric(bound: 1)) }
        t.normalizeRows()
        text = t
    }

    var labels: [String] { (0..<classes).map { "class \($0)" } }

    /// `batch` unit image embeddings, image b near class `b % K` with the given noise level.
    mutating func images(_ batch: Int, noise: Float = 1.5) -> (Matrix, [Int]) {
        var f = Matrix(rows: batch, cols: dimension)
        var y = [Int]()
        for b in 0..<batch {
            let c = b % classes
            y.append(c)
            for j in 0..<dimension {
                f[b, j] = text[c, j] + noise * Float(generator.nextSymmetric(bound: 1)) / Float(dimension).squareRoot()
            }
        }
        f.normalizeRows()
        return (f, y)
    }

    func stream(heads: Int = 4, logitScale: Float = 13, hyperparameters: RAdaHyperparameters = RAdaHyperparameters(), seed: UInt64 = 5) throws -> StreamState {
        try StreamState(labels: labels, textEmbeddings: text, logitScale: logitScale, heads: heads, hyperparameters: hyperparameters, seed: seed)
    }
}

func meanEntropy(_ logits: Matrix) -> Float {
    let (_, entropies) = StreamState.softmaxRows(logits.storage, batch: logits.rows, classes: logits.cols)
    return entropies.reduce(0, +) / Float(logits.rows)
}

extension RAdaHyperparameters {
    static func with(_ change: (inout RAdaHyperparameters) -> Void) -> RAdaHyperparameters {
        var h = RAdaHyperparameters()
        change(&h)
        return h
    }
}
