import Testing
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

/// A checkpoint of `original` rebuilt (`StreamState(checkpoint:)`) and restored onto a fresh
/// stream of the same settings: both equal the original and answer `batches` more batches of five
/// images exactly as it does.
func expectCheckpointRoundTrip(_ original: inout StreamState, task: inout SyntheticTask, batches: Int = 4) throws {
    let data = try original.checkpointData()
    var rebuilt = try StreamState(checkpoint: data)
    #expect(rebuilt == original)
    var restored = try task.stream(heads: original.heads, hyperparameters: original.hyperparameters, seed: original.seed)
    try restored.restore(from: data)
    #expect(restored == original)
    for _ in 0..<batches {
        let (images, _) = task.images(5)
        let a = try original.process(images)
        #expect(try rebuilt.process(images) == a)
        #expect(try restored.process(images) == a)
    }
    #expect(rebuilt == original && restored == original)
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

    /// The served hyper-parameters with the step gate off. The synthetic tasks' zero-shot is sure
    /// of nearly every image (running entropy far below the gate's 0.13·log K), so the served gate
    /// would keep their streams at zero-shot; tests of the step itself use these.
    static func ungated(_ change: (inout RAdaHyperparameters) -> Void = { _ in }) -> RAdaHyperparameters {
        .with { $0.stepGate = StepGate(); change(&$0) }
    }
}

/// Sixteen images near class 0 of a four-class task: the run of one class that a label-shifted
/// stream delivers in one batch.
struct OneClassRun {
    let task: SyntheticTask
    let images: Matrix

    init() {
        var task = SyntheticTask(classes: 4, dimension: 8)
        var (images, _) = task.images(16, noise: 1.0)
        for b in 0..<16 { for j in 0..<8 { images[b, j] = task.text[0, j] + 0.3 * images[b, j] } }
        images.normalizeRows()
        self.task = task
        self.images = images
    }

    /// Class 0's mean probability over the run: zero-shot's (nil objective), or after 30 steps
    /// on the run with `objective`.
    func classZeroShare(after objective: AdaptationObjective?) throws -> Float {
        var stream = try task.stream(heads: 2, hyperparameters: .ungated {
            if let objective { $0.objective = objective }
            $0.optimizer.learningRate = 0.02
        })
        if objective != nil { for _ in 0..<30 { _ = try stream.process(images) } }
        let p = StreamState.softmaxRows(try stream.classify(images).storage, batch: 16, classes: 4).0
        return (0..<16).map { p[$0 * 4] }.reduce(0, +) / 16
    }
}
