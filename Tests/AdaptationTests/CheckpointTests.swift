import Foundation
import RadaNumerics
import SafeTensors
import Testing
@testable import Adaptation

@Suite struct CheckpointTests {
    /// A stream that has taken a few steps, so every part of the state is non-trivial.
    static func trainedStream(kind: OptimizerKind = .adam) throws -> (StreamState, SyntheticTask) {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var stream = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.optimizer = OptimizerSettings(kind: kind, learningRate: 1e-2, momentum: kind == .sgd ? 0.9 : 0)
        }, seed: 42)
        for _ in 0..<3 { _ = try stream.process(task.images(6).0) }
        return (stream, task)
    }

    /// Writing and reading back gives an equal stream (bit for bit), and both continue identically.
    @Test(arguments: [OptimizerKind.adam, .adamW, .sgd]) func roundTripIsExactAndContinuesIdentically(_ kind: OptimizerKind) throws {
        var (original, task) = try Self.trainedStream(kind: kind)
        let data = try original.checkpointData()
        var rebuilt = try StreamState(checkpoint: data)
        #expect(rebuilt == original)
        var restored = try task.stream(heads: 2, hyperparameters: original.hyperparameters, seed: 42)
        try restored.restore(from: data)
        #expect(restored == original)
        for _ in 0..<4 {
            let f = task.images(6).0
            let a = try original.process(f), b = try rebuilt.process(f), c = try restored.process(f)
            #expect(a == b && a == c)
        }
        let f = task.images(3).0
        #expect(try original.classify(f) == rebuilt.classify(f))
        #expect(rebuilt == original)
    }

    /// The replay window (batch-1 streams) is part of the state: it round-trips bit for bit, the
    /// restored stream continues exactly, and `reset()` clears it.
    @Test func replayWindowRoundTrips() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var original = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.replayImages = 4
            $0.optimizer.learningRate = 1e-2
        }, seed: 42)
        for _ in 0..<6 { _ = try original.process(task.images(1).0) }
        #expect(original.replay.count == 4 * 8)
        let data = try original.checkpointData()
        let file = try SafeTensorsFile(data: data, source: "test")
        #expect(file.info("stream.replay_features")?.shape == [4, 8])
        var rebuilt = try StreamState(checkpoint: data)
        #expect(rebuilt == original && rebuilt.replay == original.replay)
        for _ in 0..<3 {
            let f = task.images(1).0
            #expect(try original.process(f) == rebuilt.process(f))
        }
        #expect(rebuilt == original)
        rebuilt.reset()
        #expect(rebuilt.replay.isEmpty)
        #expect(rebuilt == (try task.stream(heads: 2, hyperparameters: original.hyperparameters, seed: 42)))
        // A window larger than the hyper-parameters allow is refused.
        var tampered = try SafeTensorsWriter(copying: SafeTensorsFile(data: data, source: "test"))
        tampered.metadata["rada.stream"] = tampered.metadata["rada.stream"]!.replacingOccurrences(of: "\"replayImages\":4", with: "\"replayImages\":2")
        #expect(throws: AdaptationError.self) { try StreamState(checkpoint: tampered.encoded()) }
    }

    /// A version-1 checkpoint (written before the replay window, the zero-shot anchor, centring
    /// and the class Gaussians existed) still loads, with an empty window and all of them off.
    @Test func versionOneCheckpointsStillLoad() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var original = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.objective.zeroShotAnchorWeight = 0
            $0.replayImages = 0
            $0.centring = EmbeddingCentring()
            $0.gaussians = GaussianFusion()
            $0.priorCorrection = PriorCorrection()
            $0.domainMemory = DomainMemory()
        }, seed: 42)
        for _ in 0..<3 { _ = try original.process(task.images(6).0) }
        var file = try SafeTensorsWriter(copying: SafeTensorsFile(data: try original.checkpointData(), source: "test"))
        var header = file.metadata["rada.stream"]!
        for (old, new) in [("\"formatVersion\":6", "\"formatVersion\":1"),
                           ("\"domainMemory\":{\"capacity\":0,\"key\":\"per-class\",\"keyMomentum\":0.8,\"maxBytes\":67108864,\"minimumBatch\":8,\"minimumPerClass\":4,\"threshold\":0.03},", ""), (",\"replayCount\":0", ""), (",\"replayImages\":0", ""),
                           ("\"embeddingMeanEntropy\":0,\"embeddingMeanWeight\":0,", ""),
                           ("\"centring\":{\"entropyRamp\":0,\"entropyThreshold\":0,\"memoryImages\":1000,\"weight\":0},", ""),
                           (",\"zeroShotAnchorWeight\":0", ""),
                           (",\"gaussians\":{\"forgetting\":0.995,\"initialVariance\":1,\"maxWeight\":0,\"priorWindow\":256,\"shrinkage\":0.001,\"weightPerEvidence\":0.05}", ""),
                           (",\"priorCorrection\":{\"batchEntropyRamp\":0.05,\"batchEntropyThreshold\":0.18,\"coverageRamp\":0.2,\"coverageThreshold\":0.6,\"minimumBatch\":8,\"strength\":0}", "")] {
            #expect(header.contains(old), "\(old)")
            header = header.replacingOccurrences(of: old, with: new)
        }
        file.metadata["rada.stream"] = header
        let loaded = try StreamState(checkpoint: file.encoded())
        #expect(loaded == original)
    }

    /// The file is ordinary safetensors under the paper's tensor names, with a versioned header.
    @Test func layoutAndNames() throws {
        let (stream, _) = try Self.trainedStream()
        let data = try stream.checkpointData()
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        #expect((8 + headerLength) % 8 == 0)
        let file = try SafeTensorsFile(data: data, source: "test")
        for name in ["q_proj1", "q_proj2", "q_proj3", "k_proj", "v_proj", "out_proj"] {
            #expect(file.info("mha.\(name).weight")?.shape == [8, 8])
            #expect(file.info("mha.\(name).bias")?.shape == [8])
            #expect(file.info("optim.exp_avg.mha.\(name).weight")?.dtype == .f32)
            #expect(file.info("optim.exp_avg_sq.mha.\(name).bias")?.shape == [8])
        }
        let q1: [Float] = try file.floats("mha.q_proj1.weight")
        #expect(q1 == Array(stream.mask.weight(.query1)))
        let header = try JSONDecoder().decode(StreamCheckpointHeader.self, from: Data(file.metadata["rada.stream"]!.utf8))
        #expect(header.formatVersion == 6 && header.dimension == 8 && header.classes == 5 && header.heads == 2)
        #expect(header.labels == stream.labels && header.seed == 42 && header.optimizerStep == 3)
        #expect(header.hyperparameters == stream.hyperparameters && header.counters == stream.counters)
    }

    /// Corrupt, truncated or mismatched checkpoints throw a clear error and change nothing.
    @Test func badCheckpointsLeaveTheStreamUntouched() throws {
        let (trained, task) = try Self.trainedStream()
        let good = try trained.checkpointData()
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        var other = SyntheticTask(classes: 5, dimension: 8, seed: 9)
        _ = try stream.process(other.images(4).0)
        let before = stream

        var cases: [(String, Data)] = [
            ("empty", Data()),
            ("truncated header", good.prefix(20)),
            ("truncated data", good.prefix(good.count - 10)),
        ]
        var huge = good
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        cases.append(("huge header length", huge))
        var brokenJSON = good
        brokenJSON[8] = UInt8(ascii: "x")
        cases.append(("broken JSON", brokenJSON))
        // Another class set, another D, other heads: built from real streams.
        let otherLabels = try StreamState(
            labels: (0..<5).map { "other \($0)" }, textEmbeddings: task.text, logitScale: 13, heads: 2).checkpointData()
        cases.append(("other labels", otherLabels))
        cases.append(("other K", try SyntheticTask(classes: 6, dimension: 8).stream(heads: 2).checkpointData()))
        cases.append(("other D", try SyntheticTask(classes: 5, dimension: 16).stream(heads: 2).checkpointData()))
        cases.append(("other heads", try task.stream(heads: 4).checkpointData()))
        // A tensor missing, a tensor of the wrong shape, NaN in the parameters, a newer version.
        var file = try SafeTensorsWriter(copying: SafeTensorsFile(data: good, source: "test"))
        file.remove("mha.k_proj.bias")
        cases.append(("missing tensor", file.encoded()))
        file = try SafeTensorsWriter(copying: SafeTensorsFile(data: good, source: "test"))
        file.add("mha.v_proj.weight", shape: [4, 16], values: [Float](repeating: 0, count: 64))
        cases.append(("wrong shape", file.encoded()))
        file = try SafeTensorsWriter(copying: SafeTensorsFile(data: good, source: "test"))
        file.add("mha.out_proj.bias", shape: [8], values: [Float](repeating: .nan, count: 8))
        cases.append(("NaN", file.encoded()))
        file = try SafeTensorsWriter(copying: SafeTensorsFile(data: good, source: "test"))
        file.metadata["rada.stream"] = file.metadata["rada.stream"]!.replacingOccurrences(of: "\"formatVersion\":6", with: "\"formatVersion\":7")
        cases.append(("newer version", file.encoded()))
        // An offset that points past the data section.
        var offsets = good
        let length = Int(offsets.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let text = String(decoding: offsets[8..<(8 + length)], as: UTF8.self)
        if let range = text.range(of: "\"data_offsets\":[0,") {
            let at = 8 + text.utf8.distance(from: text.startIndex, to: range.upperBound)
            offsets[at] = UInt8(ascii: "9")
            cases.append(("bad offsets", offsets))
        }

        #expect(cases.count == 14)
        for (name, data) in cases {
            #expect(throws: AdaptationError.self, "\(name)") { try stream.restore(from: data) }
            #expect(stream == before, "\(name) changed the stream")
        }
        #expect(throws: AdaptationError.self) { try StreamState(checkpoint: brokenJSON) }
    }

    /// Atomic writes to disk replace the file and read back equal.
    @Test func writesToDiskAtomically() throws {
        let (stream, task) = try Self.trainedStream()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rada-checkpoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("stream.safetensors")
        try Data("old".utf8).write(to: url)
        try stream.writeCheckpoint(to: url)
        var restored = try task.stream(heads: 2, hyperparameters: stream.hyperparameters, seed: 42)
        try restored.restore(contentsOf: url)
        #expect(restored == stream)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["stream.safetensors"])
        #expect(throws: AdaptationError.self) {
            try stream.writeCheckpoint(to: directory.appendingPathComponent("missing/dir/x.safetensors"))
        }
    }
}
