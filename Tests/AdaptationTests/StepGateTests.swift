import Foundation
import Testing
@testable import Adaptation
import RadaNumerics

/// `RAdaHyperparameters.stepGate`: each step's learning rate behind zero-shot's running
/// uncertainty.
@Suite struct StepGateTests {
    /// s + (1 − s)·Ramp(ū; u, w); no image seen yet reads as shut; off is 1 whatever ū.
    @Test func scaleFollowsTheRamp() {
        let gate = StepGate(ungatedShare: 0.2, entropyThreshold: 0.3, entropyRamp: 0.1)
        #expect(gate.scale(runningEntropy: nil) == 0.2)
        #expect(gate.scale(runningEntropy: 0.25) == 0.2)
        #expect(gate.scale(runningEntropy: 0.3) == 0.2)
        #expect(abs(gate.scale(runningEntropy: 0.35) - 0.6) < 1e-12)
        #expect(gate.scale(runningEntropy: 0.4) == 1)
        #expect(gate.scale(runningEntropy: 1.5) == 1)
        #expect(StepGate().scale(runningEntropy: nil) == 1 && StepGate().scale(runningEntropy: 0) == 1)
        #expect(!StepGate().isOn)
        // The served gate (the thirtieth validation round's).
        #expect(RAdaHyperparameters().stepGate == StepGate(ungatedShare: 0, entropyThreshold: 0.13, entropyRamp: 0.02, decayWhileShut: true))
    }

    static func streams(_ gates: [StepGate], task: inout SyntheticTask, batches: Int = 5) throws -> [StreamState] {
        var streams = try gates.map { gate in try task.stream(heads: 2, hyperparameters: .with { $0.stepGate = gate }) }
        for _ in 0..<batches {
            let (images, _) = task.images(8)
            for s in streams.indices { _ = try streams[s].process(images) }
        }
        return streams
    }

    /// Share 0 behind a gate that never opens: no step moves the mask (each runs at learning rate
    /// 0), so it is the fresh one bit for bit, while the default stream's has moved. Behind a gate
    /// that opens at any entropy (threshold 0, no ramp) the first batch's step, before any image
    /// has been seen, moves nothing either, and later ones do.
    @Test func shutGateKeepsTheMask() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let fresh = try task.stream(heads: 2).mask.values
        let open = StepGate(ungatedShare: 0, entropyThreshold: 0, entropyRamp: 0)
        let first = try Self.streams([open], task: &task, batches: 1)[0]
        #expect(first.mask.values == fresh && first.counters.optimizerSteps == 1)
        let streams = try Self.streams([StepGate(), StepGate(ungatedShare: 0, entropyThreshold: 2, entropyRamp: 0), open], task: &task)
        let (plain, shut, opened) = (streams[0], streams[1], streams[2])
        #expect(plain.mask.values != fresh)
        #expect(shut.mask.values == fresh)
        #expect(opened.mask.values != fresh)
        #expect(shut.counters.optimizerSteps == plain.counters.optimizerSteps)
    }

    /// Half the learning rate while shut moves the mask less than the default and more than not
    /// at all (the first step's change, from the same fresh mask, is compared).
    @Test func partialShareMovesLess() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let fresh = try task.stream(heads: 2).mask.values
        let streams = try Self.streams([StepGate(), StepGate(ungatedShare: 0.5, entropyThreshold: 2, entropyRamp: 0)], task: &task, batches: 1)
        func moved(_ s: StreamState) -> Double { zip(s.mask.values, fresh).map { Double(abs($0 - $1)) }.reduce(0, +) }
        #expect(moved(streams[1]) > 0 && moved(streams[1]) < 0.8 * moved(streams[0]))
    }

    /// Shut behind `decayWhileShut`, a step is AdamW's decay alone: the moved mask times exactly
    /// the decay factor (towards the identity mask), where the default gate leaves it bit for bit.
    @Test func decayWhileShutReturnsTowardsZeroShot() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let open = StepGate(ungatedShare: 0, entropyThreshold: 0, entropyRamp: 0)
        var moved = try Self.streams([open], task: &task, batches: 3)[0]
        let before = moved.mask.values
        let (images, _) = task.images(8)
        var held = moved, decayed = moved
        held.hyperparameters.stepGate.entropyThreshold = 2
        decayed.hyperparameters.stepGate.entropyThreshold = 2
        decayed.hyperparameters.stepGate.decayWhileShut = true
        _ = try held.process(images)
        _ = try decayed.process(images)
        #expect(held.mask.values == before)
        let settings = decayed.hyperparameters.optimizer
        let factor = Float(settings.decoupledDecayFactor(learningRate: settings.resolvedLearningRate(logitScale: 13), images: 8))
        #expect(factor < 1 && decayed.mask.values == before.map { $0 * factor })
        // Open, the option changes nothing: the same step as the default gate's, bit for bit.
        var plain = moved
        moved.hyperparameters.stepGate.decayWhileShut = true
        _ = try plain.process(images)
        _ = try moved.process(images)
        #expect(plain.mask.values == moved.mask.values && plain.mask.values != before)
    }

    /// The stored form: absent reads as off; a gated stream's checkpoint round-trips; out-of-range
    /// values are refused with a message that names the field.
    @Test func storedFormAndValidation() throws {
        var stored = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(RAdaHyperparameters())) as? [String: Any])
        #expect(stored["stepGate"] != nil)
        stored["stepGate"] = nil
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONSerialization.data(withJSONObject: stored))
            == RAdaHyperparameters.with { $0.stepGate = StepGate() })

        // The decay option, added later, is written only when used: a gate without it stores the
        // bytes it always did, and one with it reads back equal.
        let plainGate = try #require(String(data: JSONEncoder().encode(StepGate(ungatedShare: 0.5)), encoding: .utf8))
        #expect(!plainGate.contains("decayWhileShut"))
        let fullGate = StepGate(ungatedShare: 0, entropyThreshold: 0.13, entropyRamp: 0.02, decayWhileShut: true)
        #expect(try JSONDecoder().decode(StepGate.self, from: JSONEncoder().encode(fullGate)) == fullGate)

        var task = SyntheticTask(classes: 4, dimension: 8)
        var gated = try task.stream(heads: 2, hyperparameters: .with { $0.stepGate = StepGate(ungatedShare: 0.3, entropyThreshold: 0.1, entropyRamp: 0.05) })
        try expectCheckpointRoundTrip(&gated, task: &task)
        var decaying = try task.stream(heads: 2, hyperparameters: .with { $0.stepGate = fullGate })
        try expectCheckpointRoundTrip(&decaying, task: &task)

        for (bad, field) in [(RAdaHyperparameters.with { $0.stepGate.ungatedShare = 1.01 }, "ungatedShare"),
                             (.with { $0.stepGate.ungatedShare = -0.5 }, "ungatedShare"),
                             (.with { $0.stepGate.entropyThreshold = .infinity }, "entropyThreshold"),
                             (.with { $0.stepGate.entropyRamp = 3 }, "entropyRamp")] {
            #expect { try bad.validate() } throws: { "\($0)".contains(field) }
        }
    }

    /// Where centring keeps no running evidence (centring off, an episodic stream) the gate is
    /// not applied: such a stream steps as one with the gate off, bit for bit, instead of never
    /// stepping. Labelled steps (the benchmark's oracle) are not gated either.
    @Test func gateAppliesOnlyWithItsEvidence() throws {
        let shut = StepGate(ungatedShare: 0, entropyThreshold: 2, entropyRamp: 0, decayWhileShut: true)
        for change in [{ (h: inout RAdaHyperparameters) in h.centring = EmbeddingCentring() },
                       { (h: inout RAdaHyperparameters) in h.policy = .episodic }] {
            var task = SyntheticTask(classes: 4, dimension: 8)
            let gated = RAdaHyperparameters.with { change(&$0); $0.stepGate = shut }
            let plain = RAdaHyperparameters.with { change(&$0); $0.stepGate = StepGate() }
            try gated.validate()
            #expect(gated.appliedStepGate == StepGate() && RAdaHyperparameters.with { $0.stepGate = shut }.appliedStepGate == shut)
            var a = try task.stream(heads: 2, hyperparameters: gated), b = try task.stream(heads: 2, hyperparameters: plain)
            for _ in 0..<3 {
                let (images, _) = task.images(8)
                let (x, y) = (try a.process(images), try b.process(images))
                #expect(x.probabilities == y.probabilities)
            }
            #expect(a.mask.values == b.mask.values)
        }
        // With labels, a shut gate steps as an open one.
        var task = SyntheticTask(classes: 4, dimension: 8)
        var a = try task.stream(heads: 2, hyperparameters: .with { $0.stepGate = shut })
        var b = try task.stream(heads: 2, hyperparameters: .with { $0.stepGate = StepGate() })
        let fresh = a.mask.values
        for _ in 0..<3 {
            let (images, labels) = task.images(8)
            _ = try a.process(images, labels: labels)
            _ = try b.process(images, labels: labels)
        }
        #expect(a.mask.values == b.mask.values && a.mask.values != fresh)
    }
}
