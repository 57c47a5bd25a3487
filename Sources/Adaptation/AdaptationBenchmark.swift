import Foundation
import RadaNumerics

/// Timing of the adaptation step on synthetic data, for the CLI's benchmark command.
public enum AdaptationBenchmark {
    public struct Configuration: Sendable, Equatable, Codable {
        public var batch: Int
        public var classes: Int
        public var dimension: Int
        public var heads: Int
        public init(batch: Int, classes: Int, dimension: Int, heads: Int = 8) {
            self.batch = batch
            self.classes = classes
            self.dimension = dimension
            self.heads = heads
        }
    }

    public struct Measurement: Sendable, Equatable, Codable {
        public var configuration: Configuration
        /// Best of the repeats: a prediction plus one adaptation step (`StreamState.process`).
        public var millisecondsPerStep: Double
        /// Median of the repeats, same work as `millisecondsPerStep`.
        public var medianMillisecondsPerStep: Double
        /// Prediction only (`classify`).
        public var millisecondsPerForward: Double
        /// GEMM floating-point operations of one step (see `stepFLOPs`).
        public var flopsPerStep: Double
        /// Scratch bytes of one step (`StreamState.workspaceBytes(batch:)`): the peak beyond the
        /// stream's own state, by construction independent of B once a chunk holds one image.
        public var workspaceBytes: Int
        /// The stream's persistent bytes (`StreamState.memoryBytes`).
        public var streamBytes: Int
        public var gflopsPerSecond: Double { flopsPerStep / millisecondsPerStep / 1e6 }
    }

    /// The standard grid: batch 1 to 64, K from 10 to ImageNet's 1000, D of the embedded model
    /// (128) and of ViT-B (512): B ∈ {1, 16, 64}, K ∈ {10, 100, 1000}, D ∈ {128, 512}.
    public static let standardGrid: [Configuration] = [128, 512].flatMap { d in
        [10, 100, 1000].flatMap { k in [1, 16, 64].map { Configuration(batch: $0, classes: k, dimension: d) } }
    }

    /// Multiply-adds ×2 of the GEMMs in one predict-then-adapt step: the prediction forward
    /// (`8KD² + 8K²D` per image plus `2KD² + 2BD²` for queries 1 and 2), the backward pass's
    /// recomputation of every chunk but the one the prediction left in its workspace (per image
    /// as the forward, plus queries 1 and 2 again), and the backward itself (`10KD² + 18K²D` per
    /// image, the attention weights recomputed included, plus `2KD² + 2BD²` for the query weight
    /// gradients). Chunks hold `max(1, min(B, chunkRows/K))` images.
    public static func stepFLOPs(_ c: Configuration, chunkRows: Int = RAdaHyperparameters().chunkRows) -> Double {
        let b = Double(c.batch), k = Double(c.classes), d = Double(c.dimension)
        let perChunk = max(1, min(c.batch, chunkRows / c.classes))
        let lastChunk = c.batch % perChunk == 0 ? perChunk : c.batch % perChunk
        let recomputed = Double(c.batch - lastChunk)
        let perImageForward = 8 * k * d * d + 8 * k * k * d
        let batchQueries = 2 * k * d * d + 2 * b * d * d
        let forward = b * perImageForward + batchQueries
        let recompute = recomputed * perImageForward + batchQueries
        let backward = b * (10 * k * d * d + 18 * k * k * d) + batchQueries
        return forward + recompute + backward
    }

    /// Times each configuration (`repeats` timed runs after one warm-up, best kept).
    public static func run(_ configurations: [Configuration] = standardGrid, repeats: Int = 3) throws -> [Measurement] {
        try configurations.map { try measure($0, repeats: repeats) }
    }

    public static func measure(_ c: Configuration, repeats: Int = 3) throws -> Measurement {
        var generator = SeededGenerator(seed: 1)
        func unitRows(_ rows: Int) -> Matrix {
            var m = Matrix(rows: rows, cols: c.dimension)
            for i in 0..<m.storage.count { m.storage[i] = Float(generator.nextSymmetric(bound: 1)) }
            m.normalizeRows()
            return m
        }
        let text = unitRows(c.classes)
        let features = unitRows(c.batch)
        var hyperparameters = RAdaHyperparameters()
        hyperparameters.objective.confidenceThreshold = nil  // always take the step
        var stream = try StreamState(
            labels: (0..<c.classes).map(String.init), textEmbeddings: text, logitScale: 100, heads: c.heads,
            hyperparameters: hyperparameters)
        var steps: [Double] = [], bestForward = Double.infinity
        for attempt in 0...max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try stream.classify(features)
            let middle = DispatchTime.now().uptimeNanoseconds
            _ = try stream.process(features)
            let end = DispatchTime.now().uptimeNanoseconds
            if attempt > 0 {  // the first round pays for page faults and thread start-up
                bestForward = min(bestForward, Double(middle - start) / 1e6)
                steps.append(Double(end - middle) / 1e6)
            }
        }
        steps.sort()
        return Measurement(
            configuration: c, millisecondsPerStep: steps[0], medianMillisecondsPerStep: steps[steps.count / 2],
            millisecondsPerForward: bestForward, flopsPerStep: stepFLOPs(c),
            workspaceBytes: stream.workspaceBytes(batch: c.batch), streamBytes: stream.memoryBytes)
    }
}
