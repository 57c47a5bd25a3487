import Foundation
import Testing
@testable import Adaptation

/// The nineteenth, twenty-first and twenty-second validation rounds' default (Docs/benchmarks.md,
/// "Nineteenth round", "Twenty-first round", "Twenty-second round"): the class Gaussians fused with
/// the mask, the batch's prior correction and centring's batch gate, on top of the sixteenth
/// round's settings.
@Suite struct NineteenthRoundDefaultTests {
    /// The sixteenth round's default as a server stored it (before the class Gaussians existed).
    static let storedSixteenth = #"{"attentionTemperature":1,"objective":{"entropyWeight":1,"confidenceThreshold":0.4,"diversityWeight":3,"diversityMode":"automatic","zeroShotAnchorWeight":2,"diversityShiftPower":2,"diversityUncertaintyPower":0,"entropyReliabilityPower":2,"maskRegularization":0,"fixedTemperature":true},"optimizer":{"kind":"adamW","beta1":0.9,"beta2":0.999,"epsilon":1e-08,"weightDecay":20,"momentum":0,"decayReferenceImages":64},"policy":"predictThenAdapt","stepsPerBatch":1,"runningMomentum":0.9,"collapse":{},"replayImages":0,"centring":{"weight":1,"memoryImages":500,"entropyThreshold":0.18,"entropyRamp":0.05,"whitening":0.3,"whiteningRefreshImages":256},"chunkRows":512}"#

    @Test func defaultFusesTheClassGaussiansAndCorrectsTheBatchPrior() {
        let c = RAdaHyperparameters().priorCorrection
        #expect(c == PriorCorrection(strength: 1, coverageThreshold: 0.6, coverageRamp: 0.2, minimumBatch: 8, batchEntropyThreshold: 0.18, batchEntropyRamp: 0.05))
        #expect(c.isOn && !PriorCorrection().isOn)
        let g = RAdaHyperparameters().gaussians
        #expect(g == GaussianFusion(maxWeight: 3, weightPerEvidence: 0.05, forgetting: 0.995, initialVariance: 1, shrinkage: 1e-3, priorWindow: 256))
        #expect(g.isOn && !GaussianFusion().isOn)
        let centring = RAdaHyperparameters().centring
        #expect(centring.batchGateMinimum == 8 && centring.batchEntropyThreshold == 0.15)
        #expect(EmbeddingCentring().batchGateMinimum == 0 && EmbeddingCentring().batchEntropyThreshold == nil)
    }

    /// A stream stored with the sixteenth round's default keeps it: no Gaussians, no correction, no
    /// batch gate, and it differs from today's default only there.
    @Test func storedPreviousDefaultKeepsTheGaussiansOff() throws {
        let previous = try JSONDecoder().decode(RAdaHyperparameters.self, from: Data(Self.storedSixteenth.utf8))
        #expect(!previous.gaussians.isOn)
        #expect(previous == RAdaHyperparameters.with {
            $0.gaussians = GaussianFusion(); $0.priorCorrection = PriorCorrection()
            $0.centring.batchGateMinimum = 0; $0.centring.batchEntropyThreshold = nil
            $0.stepGate = StepGate()
            $0.domainMemory = DomainMemory()
        })
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONEncoder().encode(previous)) == previous)
    }

    /// A fresh default stream answers exactly as zero-shot CLIP (no image seen: the gate is shut);
    /// it learns its Gaussians from the first batch; a reset returns it to the fresh stream.
    @Test func freshDefaultStreamIsZeroShot() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var stream = try task.stream(heads: 2, seed: 42)
        let fresh = stream
        let (images, _) = task.images(6)
        #expect(try stream.process(images).logits == stream.zeroShotLogits(images))
        for _ in 0..<3 { _ = try stream.process(task.images(4).0) }
        #expect(stream.counters.samplesSeen == 18 && !stream.embeddingMean.isEmpty && stream.gaussians.images == 18)
        stream.reset()
        #expect(stream == fresh)
    }
}
