import Foundation
import Testing
@testable import Adaptation

/// The sixteenth validation round's default (Docs/benchmarks.md, "Sixteenth round"): the
/// label-shift detector at P = 2 and a centring memory of 500 images, on top of the fourteenth
/// round's centring and whitening.
@Suite struct SixteenthRoundDefaultTests {
    /// The fourteenth round's default as a server stored it (every field written): P 0, M 1 000.
    static let storedFourteenth = #"{"attentionTemperature":1,"objective":{"entropyWeight":1,"confidenceThreshold":0.4,"diversityWeight":3,"diversityMode":"automatic","zeroShotAnchorWeight":2,"diversityShiftPower":0,"diversityUncertaintyPower":0,"entropyReliabilityPower":2,"maskRegularization":0,"fixedTemperature":true},"optimizer":{"kind":"adamW","beta1":0.9,"beta2":0.999,"epsilon":1e-08,"weightDecay":20,"momentum":0,"decayReferenceImages":64},"policy":"predictThenAdapt","stepsPerBatch":1,"runningMomentum":0.9,"collapse":{},"replayImages":0,"centring":{"weight":1,"memoryImages":1000,"entropyThreshold":0.18,"entropyRamp":0.05,"whitening":0.3,"whiteningRefreshImages":256},"chunkRows":512}"#

    @Test func defaultIsTheDetectorAndTheShorterMemory() {
        let h = RAdaHyperparameters()
        #expect(h.objective.diversityShiftPower == 2 && h.objective.diversityUncertaintyPower == 0)
        #expect(h.objective.diversityMode == .automatic && h.objective.diversityWeight == 3)
        // (with the twenty-second round's batch gate)
        #expect(h.centring == EmbeddingCentring(
            weight: 1, memoryImages: 500, entropyThreshold: 0.18, entropyRamp: 0.05, whitening: 0.3, whiteningRefreshImages: 256,
            batchGateMinimum: 8, batchEntropyThreshold: 0.15))
    }

    /// A stream stored with the previous default keeps it: P 0 and M 1 000 decode as written, differ
    /// from today's default, and are written back unchanged.
    @Test func storedPreviousDefaultKeepsItsDetectorAndMemory() throws {
        let previous = try JSONDecoder().decode(RAdaHyperparameters.self, from: Data(Self.storedFourteenth.utf8))
        #expect(previous.objective.diversityShiftPower == 0 && previous.centring.memoryImages == 1000)
        #expect(previous == RAdaHyperparameters.with {
            $0.objective.diversityShiftPower = 0
            $0.centring.memoryImages = 1000
            $0.centring.batchGateMinimum = 0  // and before the batch gate
            $0.centring.batchEntropyThreshold = nil
            $0.gaussians = GaussianFusion()  // stored before the class Gaussians existed: off
            $0.priorCorrection = PriorCorrection()  // and before the prior correction
            $0.stepGate = StepGate()  // and before the step gate
            $0.domainMemory = DomainMemory()  // and before the memory of domains
        })
        #expect(previous != RAdaHyperparameters())
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONEncoder().encode(previous)) == previous)
    }

    /// The memory of 500 images: after batches of 64, 64, 64 and 10 the running mean's weight is
    /// ((64·e + 64)·e + 64)·e' + 10 with e = exp(−64/500), e' = exp(−10/500) (Double reference).
    @Test func runningMeanForgetsOverFiveHundredImages() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var stream = try task.stream(heads: 2, seed: 3)
        for batch in [64, 64, 64, 10] { _ = try stream.process(task.images(batch).0) }
        let e = exp(-64.0 / 500), tail = exp(-10.0 / 500)
        let expected = ((64 * e + 64) * e + 64) * tail + 10
        #expect(abs(stream.embeddingMean.weight - expected) < 1e-9 * expected, "\(stream.embeddingMean.weight) vs \(expected)")
        #expect(expected < 500 + 64)
    }

    /// At batch 1 the default's diversity term is the running-anchor term with λ scaled by
    /// (H(q)/log K)², q the single image's zero-shot prediction: the same loss and gradient as that
    /// factor given by hand (computed here in Float64). An image confident enough to pass the
    /// confidence filter (entropy below 0.4·log K) keeps under a tenth of λ: this is what the
    /// sixteenth round's batch-1 gain comes from.
    @Test func detectorAtBatchOneScalesTheAnchorTermByTheImagesEntropy() throws {
        let k = 4
        let anchor: [Double] = [0.4, 0.3, 0.2, 0.1]
        let objective = RAdaHyperparameters().objective
        for z0 in [[4.0, 0.5, 0.0, 0.2], [3.5, 0.2, -0.3, 0.1]] {
            let z = z0.enumerated().map { $0.element + 0.2 * cos(Double($0.offset)) }
            let top = z0.max()!
            let e = z0.map { exp($0 - top) }
            let q = e.map { $0 / e.reduce(0, +) }
            let factor = pow(-q.map { $0 * log($0) }.reduce(0, +) / log(Double(k)), 2)
            var byHand = objective
            byHand.diversityShiftPower = 0
            byHand.diversityWeight = objective.diversityWeight * factor
            func evaluate(_ o: AdaptationObjective) throws -> LossEvaluation<Double> {
                try #require(AdaptationLoss.evaluate(o, logits: z, zeroShot: z0, maxDeviation: [0], batch: 1, classes: k, anchor: anchor))
            }
            let a = try evaluate(objective), b = try evaluate(byHand)
            #expect(abs(a.loss - b.loss) < 1e-12)
            for (x, y) in zip(a.logitGradient, b.logitGradient) { #expect(abs(x - y) < 1e-12) }
            #expect(factor > 0.04 && factor < 0.1, "a confident image keeps little of λ: \(factor)")
        }
    }
}
