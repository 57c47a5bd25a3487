import Foundation
import RadaNumerics
import Testing
@testable import Adaptation

@Suite struct StreamStateTests {
    /// At creation and after `reset()` the logits equal the zero-shot logits bit for bit, and a
    /// reset stream equals a freshly created one.
    @Test func identityAtInitAndAfterReset() throws {
        var task = SyntheticTask(classes: 6, dimension: 16)
        var stream = try task.stream(hyperparameters: .ungated())
        let fresh = stream
        let (f, _) = task.images(8)
        #expect(try stream.classify(f) == stream.zeroShotLogits(f))
        for _ in 0..<3 { _ = try stream.process(f) }
        #expect(stream.counters.optimizerSteps > 0)
        #expect(try stream.classify(f) != stream.zeroShotLogits(f))
        stream.reset()
        #expect(try stream.classify(f) == stream.zeroShotLogits(f))
        #expect(stream == fresh)
        // The zero-shot logits are CLIP's s·f·tᵀ (to float rounding).
        let gemm = f.matmul(task.text, transposeOther: true)
        let zeroShot = try stream.zeroShotLogits(f)
        for i in 0..<gemm.storage.count { #expect(abs(zeroShot.storage[i] - 13 * gemm.storage[i]) < 1e-5) }
    }

    /// A stream's work runs with subnormals flushed to zero (a long-lived mask's products were 14×
    /// slower on them), and the caller's thread gets its own mode back.
    @Test(.enabled(if: Subnormals.canFlush)) func processRunsWithSubnormalsFlushed() throws {
        var task = SyntheticTask(classes: 6, dimension: 16)
        var stream = try task.stream()
        let (f, _) = task.images(8)
        for policy in [AdaptationPolicy.predictThenAdapt, .adaptThenPredict] {
            var settings = stream.hyperparameters
            settings.policy = policy
            try stream.setHyperparameters(settings)
            var flushedAtPrediction = false
            _ = try stream.process(f) { _, _ in flushedAtPrediction = Subnormals.areFlushed }
            #expect(flushedAtPrediction, "\(policy)")
            #expect(!Subnormals.areFlushed)
        }
    }

    /// A long-lived stream keeps no subnormal number: the decay drives parameters with little
    /// gradient towards zero, and without flushing they (and Adam's moments) settle below
    /// FLT_MIN, where every product that reads them takes a microcode assist on x86.
    @Test(.enabled(if: Subnormals.canFlush)) func aLongStreamHoldsNoSubnormals() throws {
        var task = SyntheticTask(classes: 6, dimension: 16)
        var stream = try task.stream()
        let (f, _) = task.images(64)
        for _ in 0..<1500 { _ = try stream.process(f) }
        let subnormal = { (values: [Float]) in values.count(where: \.isSubnormal) }
        let zero = stream.mask.values.count(where: { $0 == 0 })
        #expect(subnormal(stream.mask.values) == 0, "\(zero) of \(stream.mask.values.count) parameters are zero")
        #expect(subnormal(stream.optimizer.firstMoment) == 0)
        #expect(subnormal(stream.optimizer.secondMoment) == 0)
    }

    /// Entropy minimisation on a fixed batch lowers the mean prediction entropy.
    @Test func entropyFallsOnAFixedBatch() throws {
        var task = SyntheticTask(classes: 5, dimension: 16)
        let h = RAdaHyperparameters.ungated {
            $0.objective = .entropyOnly
            $0.optimizer.learningRate = 1e-3
        }
        var stream = try task.stream(hyperparameters: h)
        let (f, _) = task.images(10)
        let before = meanEntropy(try stream.classify(f))
        var losses = [Float]()
        for _ in 0..<15 { losses.append(try #require(try stream.process(f).loss)) }
        let after = meanEntropy(try stream.classify(f))
        #expect(after < 0.8 * before, "entropy \(before) → \(after)")
        #expect(losses.last! < losses.first!)
    }

    /// s = 100 with images equal to class embeddings (near one-hot softmax): all finite.
    @Test(arguments: [AdaptationObjective(), .entropyOnly, AdaptationObjective(confidenceThreshold: nil, maskRegularization: 1)])
    func finiteAtScale100NearOneHot(_ objective: AdaptationObjective) throws {
        let task = SyntheticTask(classes: 5, dimension: 16)
        let h = RAdaHyperparameters.with {
            $0.objective = objective
            $0.optimizer.learningRate = 1e-2
        }
        var stream = try task.stream(logitScale: 100, hyperparameters: h)
        let f = task.text
        for _ in 0..<10 {
            let result = try stream.process(f)
            #expect(result.logits.storage.allSatisfy { $0.isFinite })
            #expect(result.probabilities.storage.allSatisfy { $0.isFinite })
        }
        #expect(stream.mask.values.allSatisfy { $0.isFinite })
        #expect(stream.optimizer.firstMoment.allSatisfy { $0.isFinite })
        #expect(try stream.classify(f).storage.allSatisfy { $0.isFinite })
    }

    /// One class: predictions work, the filter (H = 0 is not < 0) keeps nothing, nothing breaks.
    @Test func singleClass() throws {
        var task = SyntheticTask(classes: 1, dimension: 8)
        var stream = try task.stream(heads: 2)
        let (f, _) = task.images(3)
        let result = try stream.process(f)
        #expect(result.predictions == [0, 0, 0])
        #expect(result.probabilities.storage == [1, 1, 1])
        #expect(result.stepsTaken == 0)
        var tent = try task.stream(heads: 2, hyperparameters: .with { $0.objective = .entropyOnly })
        #expect(try tent.process(f).stepsTaken == 1)
        #expect(tent.mask.values.allSatisfy { $0.isFinite })
    }

    /// K = 2000 (with a small D) runs a full step and changes the logits.
    @Test func twoThousandClasses() throws {
        var task = SyntheticTask(classes: 2000, dimension: 4)
        var stream = try task.stream(heads: 1, hyperparameters: .with { $0.objective.confidenceThreshold = nil })
        let (f, _) = task.images(2)
        let result = try stream.process(f)
        #expect(result.stepsTaken == 1)
        #expect(result.logits.rows == 2 && result.logits.cols == 2000)
        let after = try stream.classify(f)
        #expect(after.storage.allSatisfy { $0.isFinite })
        #expect(after != result.logits)
    }

    @Test func headsMustDivideDimension() throws {
        let task = SyntheticTask(classes: 3, dimension: 16)
        #expect(throws: AdaptationError.headsDoNotDivideDimension(dimension: 16, heads: 3)) { try task.stream(heads: 3) }
        #expect(throws: AdaptationError.self) { try task.stream(heads: 0) }
    }

    @Test func rejectsBadInputs() throws {
        var task = SyntheticTask(classes: 3, dimension: 8)
        var stream = try task.stream(heads: 2)
        let before = stream
        #expect(throws: AdaptationError.self) { try stream.process(Matrix(rows: 2, cols: 4)) }
        var (f, _) = task.images(2)
        f[0, 0] = .nan
        #expect(throws: AdaptationError.self) { try stream.process(f) }
        #expect(throws: AdaptationError.self) { try stream.process(task.images(2).0, labels: [0, 7]) }
        #expect(stream == before)
    }

    /// The same seed gives the same initial mask; another seed another one; O starts at zero.
    @Test func seededInitialisation() throws {
        let a = RAdaMask<Float>(dimension: 8, seed: 1), b = RAdaMask<Float>(dimension: 8, seed: 1), c = RAdaMask<Float>(dimension: 8, seed: 2)
        #expect(a == b)
        #expect(a != c)
        #expect(a.weight(.output).allSatisfy { $0 == 0 } && a.bias(.output).allSatisfy { $0 == 0 })
        let bound = 1 / Float(8).squareRoot()
        #expect(a.values.allSatisfy { abs($0) <= bound })
        #expect(a.weight(.query1).contains { abs($0) > bound / 2 })
    }

    @Test func policies() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let (f, _) = task.images(8)
        let h = RAdaHyperparameters.ungated { $0.objective.confidenceThreshold = nil }
        // Predict, then adapt: the returned logits are the pre-step (zero-shot) ones.
        var online = try task.stream(heads: 2, hyperparameters: h)
        let zeroShot = try online.zeroShotLogits(f)
        #expect(try online.process(f).logits == zeroShot)
        // Adapt, then predict: the returned logits are those of the updated mask.
        var adaptFirst = try task.stream(heads: 2, hyperparameters: .with { $0 = h; $0.policy = .adaptThenPredict })
        let result = try adaptFirst.process(f)
        #expect(result.logits != zeroShot)
        #expect(result.logits == (try adaptFirst.classify(f)))
        #expect(result.logits == (try online.classify(f)))
        // Episodic: same predictions as adapt-then-predict, and the mask returns to its base.
        var episodic = try task.stream(heads: 2, hyperparameters: .with { $0 = h; $0.policy = .episodic })
        let base = episodic.mask
        #expect(try episodic.process(f).logits == result.logits)
        #expect(episodic.mask == base && episodic.optimizer.step == 0)
        #expect(episodic.counters.optimizerSteps == 1 && episodic.counters.samplesSeen == 8)
        // adapt: false never changes the mask.
        var frozen = try task.stream(heads: 2, hyperparameters: h)
        _ = try frozen.process(f, adapt: false)
        #expect(frozen.mask == base && frozen.counters.batchesSeen == 1)
    }

    @Test func collapseProtection() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let (f, _) = task.images(8)
        var rdumb = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.collapse.resetEveryOptimizerSteps = 2
        })
        let base = rdumb.mask
        #expect(try rdumb.process(f).automaticReset == false)
        #expect(rdumb.mask != base)
        #expect(try rdumb.process(f).automaticReset == true)
        #expect(rdumb.mask == base && rdumb.optimizer.step == 0)
        #expect(rdumb.counters.automaticResets == 1 && rdumb.counters.optimizerSteps == 2)
        // A histogram threshold above log K's fraction any batch of one class can reach.
        let (single, _) = task.images(1)
        var histogram = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective = .entropyOnly
            $0.runningMomentum = 0
            $0.collapse.histogramEntropyResetFraction = 0.99
        })
        #expect(try histogram.process(single).automaticReset == true)
        var sar = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective = .entropyOnly
            $0.collapse.entropyResetFraction = 1.01
        })
        #expect(try sar.process(f).automaticReset == true)
        #expect(sar.running.entropy == nil)
    }

    /// Cross-entropy with labels (the oracle) raises the probability of the true classes.
    @Test func labelledSteps() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let (f, y) = task.images(8, noise: 3)
        var stream = try task.stream(heads: 2, hyperparameters: .with { $0.optimizer.learningRate = 1e-2 })
        func trueProbability() throws -> Float {
            let p = StreamState.softmaxRows(try stream.classify(f).storage, batch: 8, classes: 4).0
            return (0..<8).map { p[$0 * 4 + y[$0]] }.reduce(0, +)
        }
        let before = try trueProbability()
        for _ in 0..<10 { _ = try stream.process(f, labels: y) }
        #expect(try trueProbability() > before + 0.5)
    }

    /// The anchor diversity term applies to single images (batch mean would cancel the entropy).
    @Test func singleImageStreamsUseTheRunningAnchor() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        var stream = try task.stream(heads: 2, hyperparameters: .with { $0.objective.confidenceThreshold = nil })
        for _ in 0..<5 {
            let result = try stream.process(task.images(1).0)
            #expect(result.stepsTaken == 1 && result.loss!.isFinite)
        }
        #expect(abs(stream.running.meanPrediction.reduce(0, +) - 1) < 1e-5)
    }

    /// The replay window holds the last N image embeddings; single images are still predicted
    /// before the step; the window counts in `memoryBytes` and shrinks with the hyper-parameters.
    @Test func replayWindow() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let h = RAdaHyperparameters.ungated { $0.objective.confidenceThreshold = nil; $0.replayImages = 4 }
        var stream = try task.stream(heads: 2, hyperparameters: h)
        var seen: [Float] = []
        for _ in 0..<6 {
            let f = task.images(1).0
            let before = try stream.classify(f)
            let result = try stream.process(f)
            #expect(result.logits == before)
            #expect(result.stepsTaken == 1)
            seen += f.storage
        }
        #expect(stream.replay == Array(seen.suffix(4 * 8)))
        // The step used the window: the same stream without one ends with another mask.
        var plain = try task.stream(heads: 2, hyperparameters: .ungated { $0.objective.confidenceThreshold = nil })
        for i in 0..<6 { _ = try plain.process(Matrix(rows: 1, cols: 8, storage: Array(seen[(i * 8)..<(i * 8 + 8)]))) }
        #expect(plain.mask != stream.mask)
        #expect(stream.memoryBytes - plain.memoryBytes == 4 * 8 * 4)
        // Labelled (oracle) batches leave it alone; a batch as large as the window fills it.
        _ = try stream.process(task.images(1).0, labels: [0])
        #expect(stream.replay == Array(seen.suffix(4 * 8)))
        let full = task.images(4).0
        _ = try stream.process(full)
        #expect(stream.replay == full.storage)
        var smaller = stream.hyperparameters
        smaller.replayImages = 2
        let window = stream.replay
        try stream.setHyperparameters(smaller)
        #expect(stream.replay == Array(window.suffix(2 * 8)))
        stream.reset()
        #expect(stream.replay.isEmpty)
    }

    /// New hyper-parameters apply to later batches; invalid ones throw and change nothing; a new
    /// optimiser kind restarts the optimiser state.
    @Test func changingHyperparameters() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        var stream = try task.stream(heads: 2, hyperparameters: .with { $0.objective.confidenceThreshold = nil })
        _ = try stream.process(task.images(4).0)
        let before = stream
        #expect(throws: AdaptationError.self) { try stream.setHyperparameters(.with { $0.attentionTemperature = 0 }) }
        #expect(throws: AdaptationError.self) { try stream.setHyperparameters(.with { $0.optimizer.beta1 = 1 }) }
        #expect(stream == before)
        var h = stream.hyperparameters
        h.optimizer.learningRate = 0
        try stream.setHyperparameters(h)
        #expect(stream.optimizer == before.optimizer)
        _ = try stream.process(task.images(4).0)
        #expect(stream.mask == before.mask)
        h.optimizer = OptimizerSettings(kind: .sgd)
        try stream.setHyperparameters(h)
        #expect(stream.optimizer.step == 0 && stream.optimizer.firstMoment.isEmpty)
    }

    @Test func memoryAccounting() throws {
        let task = SyntheticTask(classes: 10, dimension: 16)
        let adam = try task.stream()
        let parameters = RAdaMask<Float>.parameterCount(dimension: 16)
        #expect(adam.memoryBytes >= 3 * parameters * 4 + 2 * 10 * 16 * 4)
        let sgd = try task.stream(hyperparameters: .with { $0.optimizer = OptimizerSettings(kind: .sgd) })
        #expect(adam.memoryBytes - sgd.memoryBytes == 2 * parameters * 4)
        // Once a chunk holds one image (K ≥ chunkRows), scratch memory does not grow with B.
        let wide = SyntheticTask(classes: 600, dimension: 8)
        let stream = try wide.stream(heads: 2)
        let perImage = stream.network.workspaceBytes(batch: 1, backward: true)
        #expect(stream.network.workspaceBytes(batch: 1000, backward: true) == perImage)
    }
}

/// The zero-shot anchor `μ KL(p̄ ‖ q̄)`.
@Suite struct ZeroShotAnchorTests {
    /// At the identity mask the adapted model is the zero-shot model: the term and its gradient
    /// vanish (to rounding), so it never moves a fresh stream by itself.
    @Test func vanishesAtTheIdentityMask() throws {
        let logits: [Double] = [2.0, -1.0, 0.5, 0.1, 0.3, -0.2]
        let anchorOnly = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 2, fixedTemperature: true)
        let at = try #require(AdaptationLoss.evaluate(anchorOnly, logits: logits, zeroShot: logits, maxDeviation: [0, 0], batch: 2, classes: 3))
        #expect(abs(at.loss) < 1e-15)
        #expect(at.logitGradient.allSatisfy { abs($0) < 1e-15 })
        // Away from it: KL(p̄ ‖ q̄) > 0, computed here by hand from the two softmaxes.
        let shifted: [Double] = [0.0, 1.0, 0.5, 0.1, 0.3, 1.2]
        let plain = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 2, fixedTemperature: false)
        let away = try #require(AdaptationLoss.evaluate(plain, logits: shifted, zeroShot: logits, maxDeviation: [0, 0], batch: 2, classes: 3))
        func softmax(_ x: ArraySlice<Double>) -> [Double] { let e = x.map { exp($0) }; let t = e.reduce(0, +); return e.map { $0 / t } }
        let pBar = zip(softmax(shifted[0..<3]), softmax(shifted[3..<6])).map { ($0 + $1) / 2 }
        let qBar = zip(softmax(logits[0..<3]), softmax(logits[3..<6])).map { ($0 + $1) / 2 }
        let kl = zip(pBar, qBar).map { $0 * log($0 / $1) }.reduce(0, +)
        #expect(kl > 0.05)
        #expect(abs(away.loss - 2 * kl) < 1e-12)
    }

    /// A batch of one class stays where zero-shot puts it: with entropy plus the anchor, the mean
    /// prediction of a one-class batch keeps (nearly) zero-shot's class histogram, where the
    /// batch-mean diversity term spreads it towards uniform.
    @Test func toleratesARunOfOneClass() throws {
        let run = OneClassRun()
        let zeroShotClass0 = try run.classZeroShare(after: nil)
        let diversity = try run.classZeroShare(after: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 1, diversityMode: .batchMean, zeroShotAnchorWeight: 0))
        let anchor = try run.classZeroShare(after: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 1))
        #expect(zeroShotClass0 > 0.5)
        #expect(diversity < zeroShotClass0 - 0.1, "diversity \(diversity), zero-shot \(zeroShotClass0)")
        #expect(anchor > zeroShotClass0 - 0.05, "anchor \(anchor), zero-shot \(zeroShotClass0)")
    }

    /// Headers written before the term existed decode with the term off.
    @Test func oldHeadersDecodeWithTheAnchorOff() throws {
        let json = #"{"entropyWeight":1,"confidenceThreshold":0.4,"diversityWeight":1,"diversityMode":"automatic","maskRegularization":0,"fixedTemperature":true}"#
        let objective = try JSONDecoder().decode(AdaptationObjective.self, from: Data(json.utf8))
        #expect(objective == AdaptationObjective(
            entropyWeight: 1, confidenceThreshold: 0.4, diversityWeight: 1, diversityMode: .automatic, zeroShotAnchorWeight: 0,
            maskRegularization: 0, fixedTemperature: true))
        let withAnchor = AdaptationObjective(zeroShotAnchorWeight: 0.5)
        #expect(try JSONDecoder().decode(AdaptationObjective.self, from: JSONEncoder().encode(withAnchor)) == withAnchor)
    }
}
