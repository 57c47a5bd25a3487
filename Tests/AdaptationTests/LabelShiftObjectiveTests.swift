import Foundation
import Testing
@testable import Adaptation

/// The label-shift options of the diversity term: the estimated class prior as its target
/// (`DiversityMode.estimatedPrior`), the shift detector (`diversityShiftPower`) and the
/// uncertainty gate (`diversityUncertaintyPower`).
@Suite struct LabelShiftObjectiveTests {
    static let k = 4
    /// Two batches of three: one that zero-shot sees spread over all classes, one run of class 0.
    static let mixedZeroShot: [Double] = [1.0, 0.2, -0.3, 0.1, -0.2, 0.9, 0.4, -0.1, 0.3, -0.4, 0.2, 1.1]
    static let runZeroShot: [Double] = [3.0, 0.2, -0.3, 0.1, 2.6, 0.1, 0.4, -0.1, 3.2, -0.4, 0.2, 0.0]
    /// Adapted logits away from zero-shot (so every term has a gradient).
    static func adapted(_ z0: [Double]) -> [Double] { z0.enumerated().map { $0.element + 0.3 * sin(Double($0.offset)) } }

    static func evaluate(_ objective: AdaptationObjective, _ z0: [Double], anchor: [Double]? = nil, batch: Int = 3) throws -> LossEvaluation<Double> {
        let z = Array(adapted(z0).prefix(batch * k))
        return try #require(AdaptationLoss.evaluate(
            objective, logits: z, zeroShot: Array(z0.prefix(batch * k)), maxDeviation: [Double](repeating: 0, count: batch),
            batch: batch, classes: k, anchor: anchor))
    }

    static func zeroShotCoverage(_ z0: [Double], batch: Int = 3) -> Double {
        let q = AdaptationLoss.meanSoftmax(z0, batch: batch, classes: k)
        return -q.map { $0 * log($0) }.reduce(0, +) / log(Double(k))
    }

    /// Evaluates `gated` (λ 3, μ 3 with a gate set by `gate`) and the same objective with λ
    /// multiplied by `factor(z0)` by hand, on a batch where the gate should keep most of λ and on
    /// one where it should not; expects the same loss and gradient and returns the two factors.
    static func gateFactors(_ gate: (inout AdaptationObjective) -> Void, factor: ([Double]) -> Double, on batches: [[Double]]) throws -> [Double] {
        let lambda = 3.0
        var gated = AdaptationObjective(confidenceThreshold: nil, diversityWeight: lambda, diversityMode: .batchMean, zeroShotAnchorWeight: 3)
        gate(&gated)
        return try batches.map { z0 in
            let f = factor(z0)
            let byHand = AdaptationObjective(confidenceThreshold: nil, diversityWeight: lambda * f, diversityMode: .batchMean, zeroShotAnchorWeight: 3)
            let a = try evaluate(gated, z0), b = try evaluate(byHand, z0)
            #expect(abs(a.loss - b.loss) < 1e-12)
            for (x, y) in zip(a.logitGradient, b.logitGradient) { #expect(abs(x - y) < 1e-12) }
            return f
        }
    }

    /// The detector scales λ by (H(q̄)/log K)^P exactly: the same loss and gradient as λ given
    /// that factor by hand, on a mixed batch (factor near 1) and on a one-class run (factor near 0).
    @Test func shiftPowerScalesTheDiversityWeightByZeroShotCoverage() throws {
        let factors = try Self.gateFactors({ $0.diversityShiftPower = 4 }, factor: { pow(Self.zeroShotCoverage($0), 4) }, on: [Self.mixedZeroShot, Self.runZeroShot])
        #expect(factors[0] > 0.85, "mixed batch keeps most of λ: \(factors[0])")
        #expect(factors[1] < 0.3, "a one-class run turns λ mostly off: \(factors[1])")
        // Off (P = 0) is today's objective bit for bit.
        let off = AdaptationObjective(confidenceThreshold: nil, diversityWeight: 3, diversityMode: .batchMean, zeroShotAnchorWeight: 3, diversityShiftPower: 0)
        let today = AdaptationObjective(confidenceThreshold: nil, diversityWeight: 3, diversityMode: .batchMean, zeroShotAnchorWeight: 3)
        #expect(try Self.evaluate(off, Self.runZeroShot) == Self.evaluate(today, Self.runZeroShot))
    }

    /// The uncertainty gate scales λ by ū^Q exactly, ū the zero-shot mean per-sample entropy over
    /// log K: near 1 for unsure zero-shot predictions, small for confident ones.
    @Test func uncertaintyGateScalesTheDiversityWeightByZeroShotEntropy() throws {
        func meanEntropy(_ z0: [Double]) -> Double {
            (0..<3).map { b -> Double in
                let q = AdaptationLoss.meanSoftmax(Array(z0[(b * Self.k)..<((b + 1) * Self.k)]), batch: 1, classes: Self.k)
                return -q.map { $0 * log($0) }.reduce(0, +)
            }.reduce(0, +) / 3 / log(Double(Self.k))
        }
        let unsure = Self.mixedZeroShot, sure = Self.runZeroShot.map { 3 * $0 }
        let factors = try Self.gateFactors({ $0.diversityUncertaintyPower = 1.5 }, factor: { pow(meanEntropy($0), 1.5) }, on: [unsure, sure])
        #expect(factors[0] > 0.7, "unsure zero-shot keeps most of λ: \(factors[0])")
        #expect(factors[1] < 0.1, "confident zero-shot turns λ mostly off: \(factors[1])")
    }

    /// Reliability weights: the entropy term is (1/B) Σ_b (1 − u_b)^R H(p_b), with u_b the
    /// zero-shot entropy of sample b over log K, checked by hand; the sample zero-shot is surest
    /// of weighs most, and R = 0 is the plain entropy term bit for bit.
    @Test func reliabilityWeightsScaleEachSamplesEntropy() throws {
        func objective(_ r: Double) -> AdaptationObjective {
            AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, entropyReliabilityPower: r, fixedTemperature: false)
        }
        let z0 = Self.runZeroShot.enumerated().map { $0.offset < Self.k ? $0.element : 0.3 * $0.element }
        let p = Self.adapted(z0)
        var expected = 0.0, weights: [Double] = []
        for b in 0..<3 {
            let q = AdaptationLoss.meanSoftmax(Array(z0[(b * Self.k)..<((b + 1) * Self.k)]), batch: 1, classes: Self.k)
            let u = -q.map { $0 * log($0) }.reduce(0, +) / log(Double(Self.k))
            let probabilities = AdaptationLoss.meanSoftmax(Array(p[(b * Self.k)..<((b + 1) * Self.k)]), batch: 1, classes: Self.k)
            let h = -probabilities.map { $0 * log($0) }.reduce(0, +)
            weights.append(pow(1 - u, 1.5))
            expected += pow(1 - u, 1.5) * h / 3
        }
        #expect(abs(try Self.evaluate(objective(1.5), z0).loss - expected) < 1e-12)
        #expect(weights[0] > 2 * weights[1], "the confident first sample weighs most: \(weights)")
        #expect(try Self.evaluate(objective(0), z0) == Self.evaluate(AdaptationObjective.entropyOnly, z0))
        #expect(objective(1).needsZeroShotLogits && !objective(0).needsZeroShotLogits)
    }

    /// With a uniform prior estimate the target is the batch-mean term's: KL(p̄ ‖ u) = −H(p̄) + log K,
    /// the same gradient; with a prior on class 0 the loss is λ KL(p̄ ‖ m), checked by hand; single
    /// images use the running anchor, as `automatic` does.
    @Test func estimatedPriorIsTheKLToTheRunningMeanPrediction() throws {
        let lambda = 2.0
        let prior = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: lambda, diversityMode: .estimatedPrior, zeroShotAnchorWeight: 0, fixedTemperature: false)
        let batchMean = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: lambda, diversityMode: .batchMean, zeroShotAnchorWeight: 0, fixedTemperature: false)
        let uniform = [Double](repeating: 0.25, count: Self.k)
        let a = try Self.evaluate(prior, Self.mixedZeroShot, anchor: uniform), b = try Self.evaluate(batchMean, Self.mixedZeroShot, anchor: uniform)
        #expect(abs(a.loss - (b.loss + lambda * log(4))) < 1e-12)
        for (x, y) in zip(a.logitGradient, b.logitGradient) { #expect(abs(x - y) < 1e-12) }

        let m = [0.7, 0.1, 0.1, 0.1]
        let z = Self.adapted(Self.mixedZeroShot)
        let pBar = AdaptationLoss.meanSoftmax(z, batch: 3, classes: Self.k)
        let kl = zip(pBar, m).map { $0 * log($0 / $1) }.reduce(0, +)
        #expect(abs(try Self.evaluate(prior, Self.mixedZeroShot, anchor: m).loss - lambda * kl) < 1e-12)
        #expect(kl > 0.1)

        let single = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: lambda, diversityMode: .runningAnchor, zeroShotAnchorWeight: 0, fixedTemperature: false)
        #expect(try Self.evaluate(prior, Self.mixedZeroShot, anchor: m, batch: 1) == Self.evaluate(single, Self.mixedZeroShot, anchor: m, batch: 1))
    }

    /// On a stream of one-class runs, the detector keeps the runs' histogram where zero-shot puts
    /// it: the batch-mean term alone drags class 0's share towards uniform, the detector does not.
    @Test func detectorToleratesARunOfOneClass() throws {
        let run = OneClassRun()
        func objective(power: Double) -> AdaptationObjective {
            AdaptationObjective(confidenceThreshold: nil, diversityWeight: 1, diversityMode: .batchMean, zeroShotAnchorWeight: 0, diversityShiftPower: power)
        }
        let zeroShotClass0 = try run.classZeroShare(after: nil)
        let plain = try run.classZeroShare(after: objective(power: 0)), detected = try run.classZeroShare(after: objective(power: 8))
        #expect(zeroShotClass0 > 0.5)
        #expect(plain < zeroShotClass0 - 0.1, "batch mean \(plain), zero-shot \(zeroShotClass0)")
        #expect(detected > zeroShotClass0 - 0.05, "detector \(detected), zero-shot \(zeroShotClass0)")
    }

    /// The prior estimate is the stream's running mean prediction: a stream adapting with both
    /// options round-trips through a checkpoint bit for bit and continues identically; reset
    /// returns it to a fresh stream.
    @Test func priorStateRoundTripsAndResets() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        let h = RAdaHyperparameters.with {
            $0.objective.diversityMode = .estimatedPrior
            $0.objective.diversityShiftPower = 4
            $0.objective.confidenceThreshold = nil
            $0.optimizer.learningRate = 1e-2
        }
        var stream = try task.stream(heads: 2, hyperparameters: h, seed: 42)
        let fresh = stream
        for _ in 0..<3 { _ = try stream.process(task.images(6).0) }
        #expect(stream.running.meanPrediction != fresh.running.meanPrediction)
        var rebuilt = try StreamState(checkpoint: try stream.checkpointData())
        #expect(rebuilt == stream)
        #expect(rebuilt.hyperparameters.objective.diversityShiftPower == 4)
        for _ in 0..<3 {
            let f = task.images(6).0
            #expect(try stream.process(f) == rebuilt.process(f))
        }
        #expect(rebuilt == stream)
        stream.reset()
        #expect(stream == fresh)
    }

    /// Hyper-parameters written before the detector existed decode with it off; a value outside
    /// [0, 64] is refused.
    @Test func oldObjectivesDecodeWithTheDetectorOffAndBoundsHold() throws {
        let json = #"{"entropyWeight":1,"confidenceThreshold":0.4,"diversityWeight":3,"diversityMode":"automatic","zeroShotAnchorWeight":3,"maskRegularization":0,"fixedTemperature":true}"#
        let objective = try JSONDecoder().decode(AdaptationObjective.self, from: Data(json.utf8))
        #expect(objective.diversityShiftPower == 0)
        #expect(objective == AdaptationObjective(diversityShiftPower: 0))
        let on = AdaptationObjective(diversityMode: .estimatedPrior, diversityShiftPower: 2.5)
        #expect(try JSONDecoder().decode(AdaptationObjective.self, from: JSONEncoder().encode(on)) == on)
        #expect(objective.diversityUncertaintyPower == 0 && objective.entropyReliabilityPower == 0)
        for bad in [-1.0, 65, .nan] {
            #expect(throws: AdaptationError.self) { try RAdaHyperparameters.with { $0.objective.entropyReliabilityPower = bad }.validate() }
            #expect(throws: AdaptationError.self) { try RAdaHyperparameters.with { $0.objective.diversityShiftPower = bad }.validate() }
            #expect(throws: AdaptationError.self) { try RAdaHyperparameters.with { $0.objective.diversityUncertaintyPower = bad }.validate() }
        }
    }
}
