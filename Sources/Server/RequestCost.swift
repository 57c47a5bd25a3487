import Adaptation
import CLIP
import Foundation
import RadaNumerics

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
        public var predictMs: Double
        public var stepMs: Double
        /// What an answer waits for under predict-then-adapt: decode + embed + journal + predict.
        public var answerMs: Double
    }

    /// `requests` one-image requests on a fresh stream of `classes` labels ("class 0", …) with the
    /// default policy, each image file `image`, journaled (fsynced) in `directory`.
    public static func measure(backend: any EmbeddingBackend, classes: Int, image: Data, requests: Int, directory: URL) async throws -> Stages {
        let labels = (0..<classes).map { "class \($0)" }
        let text = try await backend.classEmbeddings(labels: labels, prompts: nil, templates: ["a photo of a {}."])
        var state = try StreamState(labels: labels, textEmbeddings: text, logitScale: backend.logitScale)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let journal = try Journal(url: directory.appendingPathComponent("journal.bin"))
        defer { try? FileManager.default.removeItem(at: directory.appendingPathComponent("journal.bin")) }
        var decode: [Double] = [], embed: [Double] = [], write: [Double] = [], predict: [Double] = [], step: [Double] = []
        let clock = ContinuousClock()
        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15 }
        for sequence in 0...requests {
            let begin = clock.now
            let prepared = backend.preprocessor.resizedAndCropped(try ImageDecoder.decode(image))
            let decoded = clock.now
            let features = try await backend.embedPreprocessed([prepared])
            let embedded = clock.now
            try journal.append(JournalRecord(sequence: UInt64(sequence), adapt: true, features: features))
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
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let (d, e, j, p) = (median(decode), median(embed), median(write), median(predict))
        return Stages(classes: classes, dimension: text.cols, requests: requests, decodeMs: d, embedMs: e, journalMs: j, predictMs: p,
                      stepMs: median(step), answerMs: d + e + j + p)
    }
}
