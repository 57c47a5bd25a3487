import Foundation
import RadaNumerics
import SafeTensors
import Testing
@testable import Adaptation

/// `RAdaHyperparameters.centring`: the stream subtracts a gated share of its running mean image
/// embedding before the mask; the running mean is stream state (checkpoint, reset, replay).
@Suite struct EmbeddingCentringTests {
    static let open = EmbeddingCentring(weight: 1, memoryImages: 20)

    /// The running means in Double from first principles: image i of batch j weighs
    /// Π_{l>j} exp(−B_l/M); the mean, the entropy fraction and the total weight over all images.
    static func reference(
        _ batches: [(features: [Float], entropies: [Double])], dimension d: Int, memory: Double, classes: Int
    ) -> (mean: [Double], entropy: Double, weight: Double) {
        var mean = [Double](repeating: 0, count: d)
        var entropy = 0.0, total = 0.0
        for (j, batch) in batches.enumerated() {
            let later = batches[(j + 1)...].reduce(0) { $0 + $1.entropies.count }
            let w = Foundation.exp(-Double(later) / memory)
            for (b, h) in batch.entropies.enumerated() {
                for i in 0..<d { mean[i] += w * Double(batch.features[b * d + i]) }
                entropy += w * h / Foundation.log(Double(classes))
                total += w
            }
        }
        return (mean.map { $0 / total }, entropy / total, total)
    }

    static func centredStream(_ task: inout SyntheticTask, settings: EmbeddingCentring = open, batches: Int = 3) throws -> StreamState {
        var stream = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.optimizer.learningRate = 1e-2
            $0.centring = settings
            $0.gaussians = GaussianFusion()  // centring alone (the class Gaussians have their own suite)
            $0.domainMemory = DomainMemory()  // (and so has the memory of domains)
        }, seed: 42)
        for _ in 0..<batches { _ = try stream.process(task.images(6).0) }
        return stream
    }

    // MARK: the stream

    /// A fresh stream is zero-shot bit for bit with centring on (nothing seen: nothing
    /// subtracted); after a reset it equals a fresh stream again, running mean included.
    @Test func freshStreamIsZeroShotAndResetClearsTheMean() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        let h = RAdaHyperparameters.with {
            $0.objective.confidenceThreshold = nil; $0.centring = Self.open; $0.gaussians = GaussianFusion(); $0.domainMemory = DomainMemory()
        }
        var stream = try task.stream(heads: 2, hyperparameters: h, seed: 42)
        let fresh = stream
        let (images, _) = task.images(6)
        #expect(try stream.process(images).logits == stream.zeroShotLogits(images))
        #expect(stream.embeddingMean.weight == 6 && stream.embeddingMean.share(Self.open) > 0)
        for _ in 0..<3 { _ = try stream.process(task.images(4).0) }
        stream.reset()
        #expect(stream == fresh)
        #expect(stream.embeddingMean.isEmpty && stream.embeddingMean.mean == [Float](repeating: 0, count: 8))
        // Turning centring off clears the mean; the persistent bytes counted the D floats all along.
        var on = try Self.centredStream(&task)
        #expect(on.memoryBytes == fresh.memoryBytes)
        // Mask and Adam's two moments, class embeddings and their scaled copy, the mean
        // prediction, and the running mean's D floats; then the labels and a fixed overhead.
        let floats = 3 * fresh.mask.values.count + 2 * 5 * 8 + 5 + 8
        #expect(fresh.memoryBytes == 4 * floats + fresh.labels.reduce(0) { $0 + $1.utf8.count + 16 } + 256)
        try on.setHyperparameters(.with { $0.objective.confidenceThreshold = nil; $0.centring = EmbeddingCentring() })
        #expect(on.embeddingMean == RunningEmbeddingMean(dimension: 8))
    }

    /// The gate reads zero-shot CLIP's entropy on the *raw* images, and the mean takes the raw
    /// embeddings: both equal their Double reference computed from `zeroShotLogits` of the raw
    /// batches (the centred embeddings or the adapted mask's logits would give other values).
    @Test func runningMeansTakeRawEmbeddingsAndZeroShotEntropy() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var stream = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.optimizer.learningRate = 1e-2
            $0.centring = Self.open
        }, seed: 42)
        var seen: [(features: [Float], entropies: [Double])] = []
        for batch in [6, 1, 9, 4] {
            let (images, _) = task.images(batch)
            let zeroShot = try stream.zeroShotLogits(images)
            let entropies = StreamState.softmaxRows(zeroShot.storage, batch: batch, classes: 5).1.map(Double.init)
            seen.append((images.storage, entropies))
            let result = try stream.process(images)
            #expect(seen.count == 1 || result.logits != zeroShot)
        }
        let expected = Self.reference(seen, dimension: 8, memory: 20, classes: 5)
        for i in 0..<8 { #expect(abs(Double(stream.embeddingMean.mean[i]) - expected.mean[i]) < 1e-6, "mean[\(i)]") }
        #expect(abs(stream.embeddingMean.entropy - expected.entropy) < 1e-6)
        #expect(abs(stream.embeddingMean.weight - expected.weight) < 1e-9)
        // adapt=false and the episodic policy add nothing.
        let before = stream.embeddingMean
        _ = try stream.process(task.images(3).0, adapt: false)
        #expect(stream.embeddingMean == before)
        var episodic = try task.stream(heads: 2, hyperparameters: .with { $0.policy = .episodic; $0.centring = Self.open })
        _ = try episodic.process(task.images(3).0)
        #expect(episodic.embeddingMean.isEmpty)
    }

    /// Images zero-shot reads confidently keep the gate shut: a centring-on stream answers and
    /// adapts exactly as the same stream with centring off, while its running mean fills. With
    /// the gate open the same images give other answers.
    @Test func shutGateLeavesTheStreamAsWithoutCentring() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        let shut = EmbeddingCentring(weight: 2, memoryImages: 50, entropyThreshold: 0.5, entropyRamp: 0.2)
        func hyperparameters(_ centring: EmbeddingCentring) -> RAdaHyperparameters {
            // The step gate is applied only with centring on, so it is off in all three.
            .ungated { $0.objective.confidenceThreshold = nil; $0.optimizer.learningRate = 1e-2; $0.centring = centring }
        }
        var on = try task.stream(heads: 2, logitScale: 30, hyperparameters: hyperparameters(shut))
        var off = try task.stream(heads: 2, logitScale: 30, hyperparameters: hyperparameters(EmbeddingCentring()))
        var opened = try task.stream(heads: 2, logitScale: 30, hyperparameters: hyperparameters(.init(weight: 2, memoryImages: 50)))
        var differs = 0
        for _ in 0..<6 {
            let (images, _) = task.images(8, noise: 0.3)
            let a = try on.process(images), b = try off.process(images), c = try opened.process(images)
            #expect(a == b)
            if c.logits != b.logits { differs += 1 }
        }
        #expect(on.mask == off.mask)
        // 48 images with a memory of 50: weight 8·Σ exp(−8j/50), j = 0…5.
        let weight = (0..<6).reduce(0.0) { $0 + 8 * Foundation.exp(-8 * Double($1) / 50) }
        #expect(abs(on.embeddingMean.weight - weight) < 1e-9)
        #expect(on.embeddingMean.entropy < shut.entropyThreshold)
        #expect(on.embeddingMean.share(shut) == 0)
        #expect(differs == 5)
    }

    /// With `batchGateMinimum` on, a batch of that many images that zero-shot reads confidently is
    /// answered uncentred at once, although the running gate, opened by uncertain images before
    /// it, is still open: exactly as the same stream with centring off. A smaller batch, an
    /// uncertain one, or one above the batch gate's own threshold u_b, is centred as by the running
    /// gate alone.
    @Test func batchGateShutsAConfidentBatchAtOnce() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        let probe = try task.stream(heads: 2)
        func level(_ images: Matrix) throws -> Double { Double(meanEntropy(try probe.zeroShotLogits(images))) / Foundation.log(5.0) }
        let uncertain = try level(task.images(40, noise: 4).0), confident = try level(task.images(40, noise: 0.05).0)
        #expect(confident < uncertain - 0.1)
        let threshold = (uncertain + confident) / 2
        func stream(batchGate: Int) throws -> StreamState {
            try task.stream(heads: 2, hyperparameters: .with {
                $0.objective.confidenceThreshold = nil
                $0.optimizer.learningRate = 1e-2
                $0.centring = EmbeddingCentring(weight: 1, memoryImages: 50, entropyThreshold: threshold, batchGateMinimum: batchGate)
                $0.gaussians = GaussianFusion()
                $0.priorCorrection = PriorCorrection()
            })
        }
        var gated = try stream(batchGate: 8), running = try stream(batchGate: 0)
        for _ in 0..<4 {
            let (images, _) = task.images(8, noise: 4)
            #expect(try gated.process(images) == running.process(images))
        }
        #expect(gated.centringGate == 1 && gated.mask == running.mask)
        var uncentred = gated
        try uncentred.setHyperparameters(.with {
            $0.objective.confidenceThreshold = nil; $0.optimizer.learningRate = 1e-2
            $0.centring = EmbeddingCentring(); $0.gaussians = GaussianFusion(); $0.priorCorrection = PriorCorrection()
        })
        let (calm, _) = task.images(8, noise: 0.05)
        #expect(try gated.classify(calm) == uncentred.classify(calm))
        #expect(try running.classify(calm) != gated.classify(calm))
        // u_b below the calm batch's entropy: the batch gate stays open, as the running gate alone.
        var lowered = gated
        var h = gated.hyperparameters
        h.centring.batchEntropyThreshold = confident / 2
        try lowered.setHyperparameters(h)
        #expect(try lowered.classify(calm) == running.classify(calm))
        // Seven images are below the minimum; eight uncertain ones open the batch gate as well.
        let (few, _) = task.images(7, noise: 0.05), (noisy, _) = task.images(8, noise: 4)
        #expect(try gated.classify(few) == running.classify(few))
        #expect(try gated.classify(noisy) == running.classify(noisy))
        // The request answers as `classify`, and the mask steps on the uncentred batch.
        let answered = try gated.process(calm)
        #expect(answered.logits == (try uncentred.classify(calm)))
        _ = try uncentred.process(calm)
        #expect(gated.mask == uncentred.mask)
    }

    // MARK: the arithmetic

    /// g = clamp((ū − u₀)/w, 0, 1), a step at u₀ when w = 0; the share is g·a, and 0 while
    /// centring is off or the mean is empty.
    @Test func gateOpensLinearlyOverTheRamp() {
        let settings = EmbeddingCentring(weight: 0.7, memoryImages: 100, entropyThreshold: 0.3, entropyRamp: 0.4)
        for (u, g) in [(0.0, 0.0), (0.2, 0.0), (0.3, 0.0), (0.4, 0.25), (0.5, 0.5), (0.6, 0.75), (0.7, 1.0), (0.9, 1.0), (1.0, 1.0)] {
            #expect(abs(settings.gate(entropy: u) - g) < 1e-12, "g(\(u))")
            let mean = RunningEmbeddingMean(mean: [1, 0], entropy: u, weight: 10)
            #expect(abs(Double(mean.share(settings)) - 0.7 * g) < 1e-7, "share(\(u))")
        }
        let step = EmbeddingCentring(weight: 1.5, entropyThreshold: 0.3)
        #expect(step.gate(entropy: 0.3) == 0 && step.gate(entropy: 0.300_001) == 1)
        #expect(RunningEmbeddingMean(mean: [1, 0], entropy: 0.9, weight: 0).share(step) == 0)
        #expect(RunningEmbeddingMean(mean: [1, 0], entropy: 0.9, weight: 5).share(EmbeddingCentring()) == 0)
    }

    /// Each row becomes (f − g·a·m)·‖f‖/‖f − g·a·m‖: its norm kept, equal to a Double reference;
    /// a shut gate returns the rows untouched; a row the subtraction empties keeps its raw values.
    @Test func centredRowsMatchTheReference() {
        var generator = SeededGenerator(seed: 11)
        let d = 16, batch = 5
        let settings = EmbeddingCentring(weight: 0.7, entropyThreshold: 0.3, entropyRamp: 0.4)
        let m = (0..<d).map { _ in Float(generator.nextSymmetric(bound: 0.5)) }
        var f = (0..<(batch * d)).map { _ in Float(generator.nextSymmetric(bound: 1)) }
        for u in [0.25, 0.5, 0.8] {
            let mean = RunningEmbeddingMean(mean: m, entropy: u, weight: 30)
            let a = mean.share(settings)
            // The last row is exactly g·a·m: nothing would be left of it.
            for i in 0..<d { f[(batch - 1) * d + i] = a * m[i] }
            let out = mean.centred(f, batch: batch, settings: settings)
            #expect(out.allSatisfy { $0.isFinite })
            if a == 0 {
                #expect(out == f)
                continue
            }
            for b in 0..<(batch - 1) {
                let row = Array(f[(b * d)..<((b + 1) * d)]).map(Double.init)
                let y = (0..<d).map { row[$0] - Double(a) * Double(m[$0]) }
                let norm = { (v: [Double]) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
                let expected = y.map { $0 * norm(row) / norm(y) }
                let got = Array(out[(b * d)..<((b + 1) * d)]).map(Double.init)
                for i in 0..<d { #expect(abs(got[i] - expected[i]) < 1e-6, "u \(u) row \(b) [\(i)]") }
                #expect(abs(norm(got) - norm(row)) < 1e-6)
            }
            #expect(Array(out[((batch - 1) * d)...]) == Array(f[((batch - 1) * d)...]))
        }
    }

    /// After batches of 1, 5 and 64 images the mean, ū and the weight are the
    /// exp(−B/M)-weighted means of everything added, computed in Double.
    @Test func addIsTheExponentiallyWeightedMean() {
        var generator = SeededGenerator(seed: 5)
        let d = 6, classes = 10
        let settings = EmbeddingCentring(weight: 1, memoryImages: 40)
        var mean = RunningEmbeddingMean(dimension: d)
        var seen: [(features: [Float], entropies: [Double])] = []
        for batch in [1, 5, 64, 1, 5] {
            let features = (0..<(batch * d)).map { _ in Float(generator.nextSymmetric(bound: 1)) }
            let entropies = (0..<batch).map { _ in Float(generator.nextUnit() * Foundation.log(Double(classes))) }
            mean.add(features, entropies: entropies, classes: classes, settings: settings)
            seen.append((features, entropies.map(Double.init)))
            let expected = Self.reference(seen, dimension: d, memory: 40, classes: classes)
            for i in 0..<d { #expect(abs(Double(mean.mean[i]) - expected.mean[i]) < 1e-5, "after \(seen.count) batches, [\(i)]") }
            #expect(abs(mean.entropy - expected.entropy) < 1e-5)
            #expect(abs(mean.weight - expected.weight) < 1e-9 * expected.weight)
        }
        // The weight tends to B/(1 − exp(−B/M)), below M + B.
        var steady = RunningEmbeddingMean(dimension: 1)
        for _ in 0..<2000 { steady.add([0.5], entropies: [0.1], classes: classes, settings: settings) }
        #expect(abs(steady.weight - 1 / (1 - Foundation.exp(-1.0 / 40))) < 1e-6 && steady.weight < 41)
    }

    // MARK: stored state

    /// The running mean is in the checkpoint (tensor and header): a rebuilt or restored stream
    /// equals the original bit for bit and answers the next batches identically.
    @Test func checkpointRoundTripsTheRunningMean() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var original = try Self.centredStream(&task)
        #expect(original.embeddingMean.weight > 0 && original.embeddingMean.share(Self.open) > 0)
        let data = try original.checkpointData()
        let file = try SafeTensorsFile(data: data, source: "test")
        #expect(file.info("stream.embedding_mean")?.shape == [8])
        #expect(try file.floats("stream.embedding_mean") == original.embeddingMean.mean)
        #expect(data.count <= original.maximumCheckpointBytes)
        var rebuilt = try StreamState(checkpoint: data)
        #expect(rebuilt.embeddingMean == original.embeddingMean && rebuilt == original)
        var restored = try task.stream(heads: 2, hyperparameters: original.hyperparameters, seed: 42)
        try restored.restore(from: data)
        #expect(restored == original)
        for _ in 0..<3 {
            let (images, _) = task.images(5)
            let a = try original.process(images)
            #expect(try rebuilt.process(images) == a)
            #expect(try restored.process(images) == a)
        }
        #expect(rebuilt == original && restored == original)
        // An empty mean writes no tensor; the largest checkpoint grows by D floats with centring on.
        let empty = try task.stream(heads: 2, hyperparameters: original.hyperparameters, seed: 42)
        #expect(try SafeTensorsFile(data: empty.checkpointData(), source: "test").info("stream.embedding_mean") == nil)
        let off = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.optimizer.learningRate = 1e-2
            $0.centring = EmbeddingCentring()
            $0.gaussians = GaussianFusion()
            $0.domainMemory = DomainMemory()
        }, seed: 42)
        #expect(empty.maximumCheckpointBytes == off.maximumCheckpointBytes + 8 * MemoryLayout<Float>.size)
    }

    /// A version-2 checkpoint (no running mean fields, no `centring` in its hyper-parameters)
    /// loads as a centring-off stream with an empty mean; one whose hyper-parameters name
    /// centring loads with an empty mean too.
    @Test func versionTwoCheckpointsLoadWithAnEmptyMean() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var off = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.centring = EmbeddingCentring()
            $0.gaussians = GaussianFusion()
            $0.domainMemory = DomainMemory()
        }, seed: 42)
        for _ in 0..<3 { _ = try off.process(task.images(6).0) }
        let v2 = try CheckpointValidationTests.editedHeader(try off.checkpointData()) { header in
            header["formatVersion"] = 2
            header["embeddingMeanWeight"] = nil
            header["embeddingMeanEntropy"] = nil
            var hyperparameters = header["hyperparameters"] as! [String: Any]
            hyperparameters["centring"] = nil
            hyperparameters["gaussians"] = nil
            hyperparameters["domainMemory"] = nil
            header["hyperparameters"] = hyperparameters
        }
        let loaded = try StreamState(checkpoint: v2)
        #expect(loaded == off && loaded.embeddingMean.isEmpty && !loaded.hyperparameters.centring.isOn)

        let on = try Self.centredStream(&task)
        let onV2 = try CheckpointValidationTests.tampered(try on.checkpointData()) { file in
            file.remove("stream.embedding_mean")
            var header = try JSONSerialization.jsonObject(with: Data(file.metadata["rada.stream"]!.utf8)) as! [String: Any]
            header["formatVersion"] = 2
            header["embeddingMeanWeight"] = nil
            header["embeddingMeanEntropy"] = nil
            file.metadata["rada.stream"] = String(decoding: try JSONSerialization.data(withJSONObject: header), as: UTF8.self)
        }
        var emptied = on
        emptied.embeddingMean = RunningEmbeddingMean(dimension: 8)
        #expect(try StreamState(checkpoint: onV2) == emptied)
    }

    /// Hostile running means: each refused with a typed error, the stream unchanged.
    @Test func hostileRunningMeansAreRefused() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        let trained = try Self.centredStream(&task)
        let good = try trained.checkpointData()
        let weight = trained.embeddingMean.weight
        typealias Edit = CheckpointValidationTests
        let invalid: [(String, Data)] = [
            ("NaN in the mean", try Edit.tampered(good) { $0.add("stream.embedding_mean", shape: [8], values: [Float](repeating: .nan, count: 8)) }),
            ("mean 2e3", try Edit.tampered(good) { $0.add("stream.embedding_mean", shape: [8], values: [Float](repeating: 2e3, count: 8)) }),
            ("negative weight", try Edit.editedHeader(good) { $0["embeddingMeanWeight"] = -weight }),
            ("weight 0.5", try Edit.editedHeader(good) { $0["embeddingMeanWeight"] = 0.5 }),
            ("weight 1e9", try Edit.editedHeader(good) { $0["embeddingMeanWeight"] = 1e9 }),
            ("entropy 5", try Edit.editedHeader(good) { $0["embeddingMeanEntropy"] = 5.0 }),
            ("negative entropy", try Edit.editedHeader(good) { $0["embeddingMeanEntropy"] = -0.1 }),
            ("weight missing", try Edit.editedHeader(good) { $0["embeddingMeanWeight"] = nil }),
            ("tensor missing", try Edit.tampered(good) { $0.remove("stream.embedding_mean") }),
            ("tensor with weight 0", try Edit.editedHeader(good) { $0["embeddingMeanWeight"] = 0; $0["embeddingMeanEntropy"] = 0 }),
            ("entropy with weight 0", try Edit.editedHeader(try Edit.tampered(good) { $0.remove("stream.embedding_mean") }) {
                $0["embeddingMeanWeight"] = 0
            }),
            ("a mean in version 2", try Edit.editedHeader(good) { $0["formatVersion"] = 2 }),
        ]
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        _ = try stream.process(task.images(3).0)
        for (name, data) in invalid { Edit.expectInvalid(data, into: &stream, "\(name)") }
        // A tensor of another shape: a mismatch.
        let wrongShape = try Edit.tampered(good) { $0.add("stream.embedding_mean", shape: [9], values: [Float](repeating: 0, count: 9)) }
        let before = stream
        #expect(throws: AdaptationError.self) { try stream.restore(from: wrongShape) }
        #expect(stream == before)
        #expect(performing: { try StreamState(checkpoint: wrongShape) }, throws: { error in
            guard case .checkpointMismatch? = error as? AdaptationError else { return false }
            return true
        })
        // A mean on a stream whose hyper-parameters say centring is off (the rebuild path, where
        // the checkpoint's own hyper-parameters are used).
        let offButFilled = try Edit.editedSetting(good, "centring", "weight", 0)
        #expect(throws: AdaptationError.self) { try StreamState(checkpoint: offButFilled) }
        // The good one still restores.
        try stream.restore(from: good)
        #expect(stream == trained)
    }

    /// The documented bounds, and the stored form: hyper-parameters written before centring
    /// existed read as off; a partial `centring` object is not a stored form.
    @Test func hyperparameterBoundsAndStoredForm() throws {
        func validates(_ centring: EmbeddingCentring) -> Bool { (try? RAdaHyperparameters.with { $0.centring = centring }.validate()) != nil }
        #expect(validates(.init(weight: 4, memoryImages: 1, entropyThreshold: 2, entropyRamp: 2)))
        #expect(validates(.init(weight: 0, memoryImages: 1e7)))
        for refused in [EmbeddingCentring(weight: 4.001), .init(weight: -0.1), .init(weight: .nan), .init(weight: 1, memoryImages: 0),
                        .init(weight: 1, memoryImages: 1.1e7), .init(weight: 1, entropyThreshold: 3), .init(weight: 1, entropyRamp: -1)] {
            #expect(throws: AdaptationError.self, "\(refused)") { try RAdaHyperparameters.with { $0.centring = refused }.validate() }
        }
        let on = RAdaHyperparameters.with { $0.centring = .init(weight: 1.5, memoryImages: 300, entropyThreshold: 0.4, entropyRamp: 0.1) }
        let encoded = try JSONEncoder().encode(on)
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: encoded) == on)
        var object = try JSONSerialization.jsonObject(with: encoded) as! [String: Any]
        #expect((object["centring"] as? [String: Any])?["weight"] as? Double == 1.5)
        object["centring"] = nil
        let old = try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.centring == EmbeddingCentring() && !old.centring.isOn)
        var off = on
        off.centring = EmbeddingCentring()
        #expect(old == off)
    }
}
