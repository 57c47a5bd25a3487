import Foundation
import Testing
@testable import Adaptation

/// `OptimizerSettings.decayReferenceImages`: AdamW's decoupled decay stated per image.
@Suite struct DecayPerImageTests {
    static let lr = 0.01, wd = 20.0

    static func settings(_ n: Int?) -> OptimizerSettings {
        OptimizerSettings(kind: .adamW, learningRate: lr, weightDecay: wd, decayReferenceImages: n)
    }

    /// Parameters and gradients of a few steps (fixed, signs and magnitudes mixed).
    static let initial: [Float] = [0.5, -1.25, 2.0, -0.031, 0.75, 3.5]
    static func gradient(_ step: Int) -> [Float] { initial.indices.map { Float(sin(Double(3 * step + $0 + 1))) * 0.2 } }

    /// `steps` updates of `initial` with `settings`, each on a step of `images` images.
    static func run(_ settings: OptimizerSettings, images: Int, steps: Int, zeroGradient: Bool = false) -> (state: OptimizerState<Float>, theta: [Float]) {
        var state = OptimizerState<Float>(parameterCount: initial.count, settings: settings)
        var theta = initial
        for s in 0..<steps {
            let g = zeroGradient ? [Float](repeating: 0, count: initial.count) : gradient(s)
            state.apply(settings, learningRate: lr, parameters: &theta, gradient: g, images: images)
        }
        return (state, theta)
    }

    /// Off (nil) is PyTorch's per-step AdamW bit for bit, whatever the batch: the reference below
    /// is `torch.optim.AdamW`'s single-tensor loop in float32, in the optimiser's order of
    /// operations (the fixtures in `ReferenceParityTests` hold the same rule to PyTorch's numbers).
    @Test func offIsPerStepAdamWBitForBit() {
        var theta = Self.initial, m = [Float](repeating: 0, count: 6), v = m
        for step in 1...4 {
            let g = Self.gradient(step - 1)
            let stepSize = Float(Self.lr / (1 - pow(0.9, Double(step))))
            let root = Float((1 - pow(0.999, Double(step))).squareRoot())
            for i in 0..<6 {
                theta[i] *= Float(1 - Self.lr * Self.wd)
                m[i] += (g[i] - m[i]) * (1 - 0.9)
                v[i] = v[i] * 0.999 + (1 - 0.999) * g[i] * g[i]
                theta[i] -= stepSize * m[i] / (v[i].squareRoot() / root + 1e-8)
            }
        }
        for images in [1, 16, 64] {
            let off = Self.run(Self.settings(nil), images: images, steps: 4)
            #expect(off.theta == theta, "batch \(images)")
            #expect(off.state.firstMoment == m && off.state.secondMoment == v)
        }
    }

    /// With N set, a step on N images is today's step bit for bit (the Adam part too).
    @Test func onAtTheReferenceBatchIsPerStep() {
        for n in [1, 16, 64] {
            #expect(Self.run(Self.settings(n), images: n, steps: 4) == Self.run(Self.settings(nil), images: n, steps: 4), "N = \(n)")
        }
        #expect(Self.settings(64).decoupledDecayFactor(learningRate: Self.lr, images: 64) == 1 - Self.lr * Self.wd)
    }

    /// N = 64 at batch 1, with no gradient (the Adam update is then exactly 0): each step scales
    /// by (1 − lr·wd)^(1/64) = 0.8^(1/64) = 0.9965195, so 64 single-image steps decay as much as
    /// one 64-image step (0.8), where the per-step rule would decay by 0.8^64 ≈ 6e-7.
    @Test func onAtBatchOneIsTheClosedForm() {
        let factor = Self.settings(64).decoupledDecayFactor(learningRate: Self.lr, images: 1)
        #expect(abs(factor - 0.996_519_453_2) < 1e-9, "\(factor)")
        let one = Self.run(Self.settings(64), images: 1, steps: 1, zeroGradient: true)
        #expect(one.theta == Self.initial.map { $0 * Float(factor) })
        let sixtyFour = Self.run(Self.settings(64), images: 1, steps: 64, zeroGradient: true)
        for (theta, start) in zip(sixtyFour.theta, Self.initial) {
            #expect(abs(theta - 0.8 * start) < 2e-5 * abs(start), "\(theta) vs \(0.8 * start)")
        }
        let perStep = Self.run(Self.settings(nil), images: 1, steps: 64, zeroGradient: true)
        #expect(perStep.theta.allSatisfy { abs($0) < 3e-6 })
        // A step on 16 images: 0.8^(1/4).
        #expect(abs(Self.settings(64).decoupledDecayFactor(learningRate: Self.lr, images: 16) - pow(0.8, 0.25)) < 1e-15)
    }

    /// lr·wd > 1 (a client's extreme policy): the per-image power stays finite (0), never NaN.
    @Test func decayPastZeroStaysFinite() {
        let extreme = OptimizerSettings(kind: .adamW, learningRate: 1, weightDecay: 3, decayReferenceImages: 64)
        #expect(extreme.decoupledDecayFactor(learningRate: 1, images: 1) == 0)
        #expect(extreme.decoupledDecayFactor(learningRate: 1, images: 64) == -2, "B = N keeps the per-step rule")
    }

    /// In a stream the decay counts the request's images, not the replay window's: batch-1
    /// requests with a window of 8 and N = 4 decay by (1 − lr·wd)^(1/4) per step. All loss weights
    /// 0, so the gradient is 0 and the step is the decay alone.
    @Test func streamCountsTheRequestsImages() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let h = RAdaHyperparameters.with {
            $0.objective = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, fixedTemperature: false)
            $0.optimizer = Self.settings(4)
            $0.replayImages = 8
        }
        var stream = try task.stream(heads: 2, hyperparameters: h)
        let start = stream.mask.values
        #expect(start.contains { $0 != 0 })
        for _ in 0..<3 { _ = try stream.process(task.images(1).0) }
        #expect(stream.counters.optimizerSteps == 3)
        let factor = Float(pow(1 - Self.lr * Self.wd, 0.25))
        #expect(stream.mask.values == start.map { $0 * factor * factor * factor })
    }

    /// Bounds 1...4096; absent in stored hyper-parameters (written before the option) is nil, and
    /// nil is not written, so checkpoints and journals written before read and write as before.
    @Test func boundsAndStoredForm() throws {
        for bad in [0, -1, 4097] {
            #expect(throws: AdaptationError.self) { try RAdaHyperparameters.with { $0.optimizer.decayReferenceImages = bad }.validate() }
        }
        for good in [nil, 1, 64, 4096] { try RAdaHyperparameters.with { $0.optimizer.decayReferenceImages = good }.validate() }
        let off = try JSONEncoder().encode(RAdaHyperparameters.with { $0.optimizer.decayReferenceImages = nil })
        #expect(!String(decoding: off, as: UTF8.self).contains("decayReferenceImages"))
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: off).optimizer.decayReferenceImages == nil)
        let on = RAdaHyperparameters.with { $0.optimizer.decayReferenceImages = 16 }
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONEncoder().encode(on)) == on)
    }

    /// The served defaults (ninth validation round): μ 2, R 2, weight decay 20 per 64 images;
    /// the shift detector P 2 since the sixteenth; the rest as before.
    @Test func servedDefaults() {
        let h = RAdaHyperparameters()
        #expect(h.objective == AdaptationObjective(zeroShotAnchorWeight: 2, diversityShiftPower: 2, entropyReliabilityPower: 2))
        #expect(h.objective.diversityWeight == 3 && h.objective.confidenceThreshold == 0.4 && h.objective.entropyWeight == 1)
        #expect(h.optimizer == OptimizerSettings(kind: .adamW, weightDecay: 20, decayReferenceImages: 64))
        #expect(h.optimizer.learningRate == nil && h.stepsPerBatch == 1 && h.replayImages == 0)
    }

    /// Hyper-parameters stored by a server before this default (the previous `RAdaHyperparameters()`
    /// as it encoded them) keep meaning what they meant: μ 3, R 0, weight decay 5 per step, so the
    /// stream that carries them keeps adapting as it did.
    @Test func storedPreviousDefaultsKeepTheirMeaning() throws {
        let stored = #"{"attentionTemperature":1,"objective":{"entropyWeight":1,"confidenceThreshold":0.4,"diversityWeight":3,"diversityMode":"automatic","zeroShotAnchorWeight":3,"diversityShiftPower":0,"diversityUncertaintyPower":0,"entropyReliabilityPower":0,"maskRegularization":0,"fixedTemperature":true},"optimizer":{"kind":"adamW","beta1":0.9,"beta2":0.999,"epsilon":1e-08,"weightDecay":5,"momentum":0},"policy":"predictThenAdapt","stepsPerBatch":1,"runningMomentum":0.9,"collapse":{},"replayImages":0,"chunkRows":512}"#
        let previous = try JSONDecoder().decode(RAdaHyperparameters.self, from: Data(stored.utf8))
        #expect(previous.objective == AdaptationObjective())
        #expect(previous.optimizer == OptimizerSettings())
        #expect(previous.optimizer.decayReferenceImages == nil && previous.optimizer.weightDecay == 5)
        #expect(previous.optimizer.decoupledDecayFactor(learningRate: 0.005, images: 1) == 1 - 0.005 * 5)
        #expect(previous != RAdaHyperparameters())
        // Written back, it is what was stored (no field added).
        let again = try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONEncoder().encode(previous))
        #expect(again == previous)
        #expect(!String(decoding: try JSONEncoder().encode(previous), as: UTF8.self).contains("decayReferenceImages"))
    }
}
