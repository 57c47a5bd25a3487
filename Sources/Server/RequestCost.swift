import Adaptation
import CLIP
import Foundation
import RadaNumerics
import StreamStore
import Imaging

/// What one classify request costs inside the process, stage by stage, with no HTTP, no queues
/// and no other request: the floor that the server's own latency is compared against
/// (`rada bench-request`, `tools/load_test.py`).
public enum RequestCost {
    public struct Stages: Encodable, Sendable {
        public var classes: Int
        public var dimension: Int
        public var requests: Int
        /// Medians over the requests, milliseconds.
        public var decodeMs: Double
        public var embedMs: Double
        public var journalMs: Double
        /// 99th percentile of the journal append (the store's commit), milliseconds.
        public var journalP99Ms: Double
        public var predictMs: Double
        public var stepMs: Double
        /// What an answer waits for under predict-then-adapt: the median over the requests of
        /// decode + embed + journal + predict, the statistic a served request's p50 is compared with.
        public var answerMs: Double
        /// The sum of the four stages' medians (the floor's definition before 2026-11-30 15:00 UTC;
        /// below `answerMs` when a stage, the journal's fsync above all, has a long tail).
        public var stageMediansMs: Double
    }

    /// `requests` one-image requests on a fresh stream of `classes` labels ("class 0", …) with the
    /// default policy, each image file `image`, journaled durably in `store` (a stream of client
    /// `bench`, deleted afterwards).
    public static func measure(backend: any EmbeddingBackend, classes: Int, image: Data, requests: Int, store: any StreamStore) async throws -> Stages {
        let labels = (0..<classes).map { "class \($0)" }
        let text = try await backend.classEmbeddings(labels: labels, prompts: nil, templates: ["a photo of a {}."])
        var state = try StreamState(labels: labels, textEmbeddings: text, logitScale: backend.logitScale)
        let key = StreamKey(client: "bench", id: "bench-request-\(UUID().uuidString.lowercased())")
        let journal = try store.create(key, metadata: Data("{}".utf8), snapshot: state.checkpointData())
        defer { try? journal.delete() }
        var decode: [Double] = [], embed: [Double] = [], write: [Double] = [], predict: [Double] = [], step: [Double] = [], answer: [Double] = []
        let clock = ContinuousClock()
        func ms(_ d: Duration) -> Double { d.seconds * 1e3 }
        let maxPixels = ServerLimits().maxPixelsPerImage
        for sequence in 0...requests {
            let begin = clock.now
            let prepared = try ImagePipeline.decode(image, preprocessor: backend.preprocessor, maxPixels: maxPixels)
            let decoded = clock.now
            let features = try await backend.embedPreprocessed([prepared])
            let embedded = clock.now
            try journal.append(sequence: UInt64(sequence), payload: JournalRecord(sequence: UInt64(sequence), adapt: true, features: features).payload())
            let journaled = clock.now
            var predicted = journaled
            _ = try state.process(features, adapt: true) { _, _ in predicted = clock.now }
            let stepped = clock.now
            guard sequence > 0 else { continue }  // the first request warms up
            decode.append(ms(decoded - begin))
            embed.append(ms(embedded - decoded))
            write.append(ms(journaled - embedded))
            predict.append(ms(predicted - journaled))
            step.append(ms(stepped - predicted))
            answer.append(ms(predicted - begin))
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let (d, e, j, p) = (median(decode), median(embed), median(write), median(predict))
        let journalP99 = write.sorted()[min(write.count - 1, write.count * 99 / 100)]
        return Stages(classes: classes, dimension: text.cols, requests: requests, decodeMs: d, embedMs: e, journalMs: j, journalP99Ms: journalP99, predictMs: p,
                      stepMs: median(step), answerMs: median(answer), stageMediansMs: d + e + j + p)
    }
}
