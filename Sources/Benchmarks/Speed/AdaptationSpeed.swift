import Adaptation
import Foundation
import RadaNumerics

/// The speed benchmark of the adaptation step (ms per step on synthetic embeddings, GFLOP/s,
/// memory), for `rada bench-adapt`; the accuracy benchmarks are `BenchmarkRunner`'s.
public enum AdaptationSpeed {
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
        /// GEMM floating-point operations of one step (`StepCost.flops`, as the stream's
        /// `stepFLOPs` counts them: a replay window's rows included).
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

    /// Times each configuration (`repeats` timed runs after one warm-up, best kept).
    public static func run(_ configurations: [Configuration] = standardGrid, repeats: Int = 3) throws -> [Measurement] {
        try configurations.map { try measure($0, repeats: repeats) }
    }

    public static func measure(_ c: Configuration, repeats: Int = 3) throws -> Measurement {
        try measure(c, settings: [RAdaHyperparameters()], repeats: repeats)[0]
    }

    /// Times one configuration under several hyper-parameter settings, one stream each on the
    /// same embeddings, their steps interleaved (setting 1, setting 2, …, then the next round), so
    /// that a slow phase of the machine falls on every setting alike and their ratio holds.
    /// The confidence filter is switched off in every setting: each round takes the step.
    public static func measure(_ c: Configuration, settings: [RAdaHyperparameters], repeats: Int = 3) throws -> [Measurement] {
        var generator = SeededGenerator(seed: 1)
        func unitRows(_ rows: Int) -> Matrix {
            var m = Matrix(rows: rows, cols: c.dimension)
            for i in 0..<m.storage.count { m.storage[i] = Float(generator.nextSymmetric(bound: 1)) }
            m.normalizeRows()
            return m
        }
        let text = unitRows(c.classes)
        let features = unitRows(c.batch)
        var streams = try settings.map { setting in
            var hyperparameters = setting
            hyperparameters.objective.confidenceThreshold = nil  // always take the step
            return try StreamState(
                labels: (0..<c.classes).map(String.init), textEmbeddings: text, logitScale: 100, heads: c.heads,
                hyperparameters: hyperparameters)
        }
        var steps = [[Double]](repeating: [], count: streams.count)
        var bestForward = [Double](repeating: .infinity, count: streams.count)
        for attempt in 0...max(1, repeats) {
            for i in streams.indices {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try streams[i].classify(features)
                let middle = DispatchTime.now().uptimeNanoseconds
                _ = try streams[i].process(features)
                let end = DispatchTime.now().uptimeNanoseconds
                if attempt > 0 {  // the first round pays for page faults and thread start-up
                    bestForward[i] = min(bestForward[i], Double(middle - start) / 1e6)
                    steps[i].append(Double(end - middle) / 1e6)
                }
            }
        }
        return streams.indices.map { i in
            let sorted = steps[i].sorted()
            return Measurement(
                configuration: c, millisecondsPerStep: sorted[0], medianMillisecondsPerStep: sorted[sorted.count / 2],
                millisecondsPerForward: bestForward[i],
                flopsPerStep: streams[i].stepFLOPs(batch: c.batch),
                workspaceBytes: streams[i].workspaceBytes(batch: c.batch), streamBytes: streams[i].memoryBytes)
        }
    }
}
