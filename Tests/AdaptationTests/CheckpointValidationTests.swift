import Foundation
import RadaNumerics
import SafeTensors
import Testing
@testable import Adaptation

/// Hostile checkpoints: every field a client controls is checked before anything changes, and
/// no value can later make the stream trap or compute NaN.
@Suite struct CheckpointValidationTests {
    static func tampered(_ data: Data, _ edit: (inout SafeTensorsWriter) throws -> Void) throws -> Data {
        var file = try SafeTensorsWriter(copying: SafeTensorsFile(data: data, source: "test"))
        try edit(&file)
        return file.encoded()
    }

    static func editedHeader(_ data: Data, _ edit: (inout [String: Any]) -> Void) throws -> Data {
        try tampered(data) { file in
            var header = try JSONSerialization.jsonObject(with: Data(file.metadata["rada.stream"]!.utf8)) as! [String: Any]
            edit(&header)
            file.metadata["rada.stream"] = String(decoding: try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    /// `data` with `hyperparameters.<group>.<field>` of its header set to `value`.
    static func editedSetting(_ data: Data, _ group: String, _ field: String, _ value: Any) throws -> Data {
        try editedHeader(data) { header in
            var hyperparameters = header["hyperparameters"] as! [String: Any]
            var settings = hyperparameters[group] as! [String: Any]
            settings[field] = value
            hyperparameters[group] = settings
            header["hyperparameters"] = hyperparameters
        }
    }

    static func expectInvalid(_ data: Data, into stream: inout StreamState, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        let before = stream
        #expect(sourceLocation: sourceLocation, performing: { try stream.restore(from: data) }, throws: { error in
            guard case .invalidCheckpoint? = error as? AdaptationError else { return false }
            return true
        })
        #expect(stream == before, comment, sourceLocation: sourceLocation)
        #expect(throws: AdaptationError.self, comment, sourceLocation: sourceLocation) { try StreamState(checkpoint: data) }
    }

    /// The overflow found by the first attack: a 2³¹ × 2³¹ tensor spanning 0 bytes.
    @Test func hugeShapeWithEmptyOffsetsIsRefused() throws {
        let (trained, task) = try CheckpointTests.trainedStream()
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        let header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647],\"data_offsets\":[0,0]}}"
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        Self.expectInvalid(bytes, into: &stream, "huge shape")
        // The same inside a real checkpoint, and shapes whose byte count overflows Int.
        for shape in ["[2147483647,2147483647]", "[4611686018427387904,4]", "[9007199254740991,9007199254740991,0]"] {
            let good = try trained.checkpointData()
            let length = Int(good.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
            var text = String(decoding: good[8..<(8 + length)], as: UTF8.self)
            text = text.replacingOccurrences(of: "\"shape\":[8]", with: "\"shape\":\(shape)")
            var edited = Data()
            withUnsafeBytes(of: UInt64(text.utf8.count).littleEndian) { edited.append(contentsOf: $0) }
            edited.append(contentsOf: Array(text.utf8))
            edited.append(good[(8 + length)...])
            Self.expectInvalid(edited, into: &stream, "shape \(shape)")
        }
    }

    /// Counters at 2⁶³−1 crashed the next step (and every replay after a restart); negative ones
    /// were accepted. Now both are refused, and a stream at the bound still steps.
    @Test(arguments: ["samplesSeen", "batchesSeen", "optimizerSteps", "skippedSteps", "automaticResets"])
    func poisonedCountersAreRefused(_ counter: String) throws {
        let (trained, taskValue) = try CheckpointTests.trainedStream()
        let good = try trained.checkpointData()
        var task = taskValue
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        for value in [Int.max, -1, 1 << 53] {
            let data = try Self.editedHeader(good) { header in
                var counters = header["counters"] as! [String: Any]
                counters[counter] = value
                header["counters"] = counters
            }
            Self.expectInvalid(data, into: &stream, "\(counter) = \(value)")
        }
        // Just inside the bound: accepted, and a step after it does not trap.
        let edge = try Self.editedHeader(good) { header in
            var counters = header["counters"] as! [String: Any]
            counters[counter] = (1 << 53) - 1
            header["counters"] = counters
        }
        try stream.restore(from: edge)
        _ = try stream.process(task.images(2).0)
    }

    @Test func optimizerStepOutOfBoundsIsRefused() throws {
        let (trained, task) = try CheckpointTests.trainedStream()
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        for value in [Int.max, -1] {
            Self.expectInvalid(try Self.editedHeader(try trained.checkpointData()) { $0["optimizerStep"] = value }, into: &stream, "step \(value)")
        }
    }

    /// Values out of their documented ranges: each refused, the stream unchanged.
    @Test func valuesOutOfRangeAreRefused() throws {
        let (trained, task) = try CheckpointTests.trainedStream()
        let good = try trained.checkpointData()
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        let d = 8, k = 5
        let cases: [(String, Data)] = [
            ("text 3e38", try Self.tampered(good) { $0.add("stream.text_embeddings", shape: [k, d], values: [Float](repeating: 3e38, count: k * d)) }),
            ("logit scale 1e30", try Self.editedHeader(good) { $0["logitScale"] = 1e30 }),
            ("logit scale 0", try Self.editedHeader(good) { $0["logitScale"] = 0 }),
            ("negative second moment", try Self.tampered(good) { $0.add("optim.exp_avg_sq.mha.k_proj.bias", shape: [d], values: [Float](repeating: -1, count: d)) }),
            ("mask 1e30", try Self.tampered(good) { $0.add("mha.q_proj1.bias", shape: [d], values: [Float](repeating: 1e30, count: d)) }),
            ("mean prediction sums to 3", try Self.tampered(good) { $0.add("stream.running_mean_prediction", shape: [k], values: [Float](repeating: 0.6, count: k)) }),
            ("entropy above log K", try Self.editedHeader(good) { $0["runningEntropy"] = 9.0 }),
            ("D = 2^31", try Self.editedHeader(good) { $0["dimension"] = 1 << 31 }),
            ("K = 2^40", try Self.editedHeader(good) { $0["classes"] = 1 << 40 }),
            ("heads = 0", try Self.editedHeader(good) { $0["heads"] = 0 }),
            ("chunkRows 2^62", try Self.editedHeader(good) { header in
                var policy = header["hyperparameters"] as! [String: Any]
                policy["chunkRows"] = 1 << 62
                header["hyperparameters"] = policy
            }),
        ]
        for (name, data) in cases {
            let before = stream
            #expect(throws: AdaptationError.self, "\(name)") { try stream.restore(from: data) }
            #expect(stream == before, "\(name) changed the stream")
            #expect(throws: AdaptationError.self, "\(name)") { try StreamState(checkpoint: data) }
        }
    }

    /// A restore brings back the adaptation only: the stream keeps its class embeddings, logit
    /// scale, policy and seed, so a reset after it is exactly the stream's own zero-shot.
    @Test func restoreKeepsTheStreamsOwnClassesAndPolicy() throws {
        let (trained, task) = try CheckpointTests.trainedStream()
        let good = try trained.checkpointData()
        let fresh = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        // Other class embeddings for the same labels: 409 (mismatch), nothing changes.
        let other = SyntheticTask(classes: 5, dimension: 8, seed: 77)
        let foreign = try StreamState(labels: trained.labels, textEmbeddings: other.text, logitScale: 13, heads: 2,
                                      hyperparameters: trained.hyperparameters, seed: 42).checkpointData()
        var stream = fresh
        #expect(throws: AdaptationError.checkpointMismatch("class embedding of \"\(trained.labels[0])\" differs from this stream's (another model, prompts or templates)")) {
            try stream.restore(from: foreign)
        }
        #expect(stream == fresh)
        // Another policy: 409, the stream's policy is never replaced by a restore.
        var otherPolicy = trained.hyperparameters
        otherPolicy.stepsPerBatch = 3
        var differentPolicy = try task.stream(heads: 2, hyperparameters: otherPolicy, seed: 42)
        let before = differentPolicy
        #expect(throws: AdaptationError.self) { try differentPolicy.restore(from: good) }
        #expect(differentPolicy == before)
        // Another logit scale: 409.
        var scaled = try task.stream(heads: 2, logitScale: 20, hyperparameters: trained.hyperparameters, seed: 42)
        #expect(throws: AdaptationError.self) { try scaled.restore(from: good) }
        // The good one restores exactly; a reset then equals the fresh stream bit for bit.
        try stream.restore(from: good)
        #expect(stream == trained)
        stream.reset()
        #expect(stream == fresh)
    }

    /// A header field this version does not have, at the top or nested in the hyper-parameters,
    /// is named by a restore that refuses unknown fields (what the server does on uploads), and
    /// the stream is unchanged; without the option the checkpoint still restores, as a stream
    /// stored by another version must, and a good one passes either way.
    @Test func unknownHeaderFieldsAreNamed() throws {
        let (trained, task) = try CheckpointTests.trainedStream()
        let good = try trained.checkpointData()
        let fresh = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        var strict = fresh
        try strict.restore(from: good, refusingUnknownFields: true)
        #expect(strict == trained)
        let top = try Self.editedHeader(good) { $0["futureField"] = 1 }
        let nested = try Self.editedSetting(good, "stepGate", "coverageThreshold", 0.6)
        for (data, path) in [(top, "futureField"), (nested, "hyperparameters.stepGate.coverageThreshold")] {
            var stream = fresh
            #expect { try stream.restore(from: data, refusingUnknownFields: true) } throws: { error in
                guard case let .invalidCheckpoint(message)? = error as? AdaptationError else { return false }
                return message.contains("\"\(path)\"")
            }
            #expect(stream == fresh)
            #expect(try StreamState(checkpoint: data) == trained)
            try stream.restore(from: data)
            #expect(stream == trained)
        }
        // An unreadable one is refused as restoring would refuse it.
        var stream = fresh
        #expect(throws: AdaptationError.self) { try stream.restore(from: Data(good.prefix(40)), refusingUnknownFields: true) }
    }
}
