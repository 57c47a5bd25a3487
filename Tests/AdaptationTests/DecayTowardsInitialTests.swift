import Foundation
import Testing
@testable import Adaptation

/// `OptimizerSettings.decayTowardsInitial`: the weight decay pulls towards the stream's initial
/// mask parameters θ₀ instead of towards 0.
@Suite struct DecayTowardsInitialTests {
    static let lr = 0.01, wd = 20.0
    static let initial: [Float] = [0.5, -1.25, 2.0, -0.031, 0.75, 3.5]
    static let centre: [Float] = [0.25, -1.0, 0.0, 0.5, -0.75, 3.0]

    static func run(_ settings: OptimizerSettings, centre: [Float]?, steps: Int, zeroGradient: Bool) -> [Float] {
        var state = OptimizerState<Float>(parameterCount: initial.count, settings: settings)
        var theta = initial
        for s in 0..<steps {
            let g = zeroGradient ? [Float](repeating: 0, count: initial.count) : initial.indices.map { Float(sin(Double(3 * s + $0 + 1))) * 0.2 }
            state.apply(settings, learningRate: lr, parameters: &theta, gradient: g, images: 64, centre: centre)
        }
        return theta
    }

    /// With no gradient each AdamW step moves θ a fraction lr·wd = 0.2 of the way to θ₀: after
    /// three steps θ₀ + 0.8³(θ − θ₀), where the decay towards 0 gives 0.8³θ.
    @Test func adamWDecaysTheOffsetFromTheCentre() {
        let settings = OptimizerSettings(kind: .adamW, learningRate: Self.lr, weightDecay: Self.wd)
        let towards = Self.run(settings, centre: Self.centre, steps: 3, zeroGradient: true)
        for i in Self.initial.indices {
            let expected = Self.centre[i] + 0.512 * (Self.initial[i] - Self.centre[i])
            #expect(abs(towards[i] - expected) < 1e-6, "\(i): \(towards[i]) vs \(expected)")
        }
        let towardsZero = Self.run(settings, centre: nil, steps: 3, zeroGradient: true)
        for i in Self.initial.indices { #expect(abs(towardsZero[i] - 0.512 * Self.initial[i]) < 1e-6) }
        // A centre of zeros is the rule towards 0 (to rounding: θ − 0 and 0 + x are exact).
        #expect(Self.run(settings, centre: [Float](repeating: 0, count: 6), steps: 4, zeroGradient: false)
            == Self.run(settings, centre: nil, steps: 4, zeroGradient: false))
    }

    /// Adam's and SGD's L2 term is wd·(θ − θ₀): at θ = θ₀ with no gradient nothing moves.
    @Test func l2TermsSeeTheOffset() {
        for kind in [OptimizerKind.adam, .sgd] {
            let settings = OptimizerSettings(kind: kind, learningRate: Self.lr, weightDecay: Self.wd, momentum: kind == .sgd ? 0.9 : 0)
            var state = OptimizerState<Float>(parameterCount: 6, settings: settings)
            var theta = Self.centre
            state.apply(settings, learningRate: Self.lr, parameters: &theta, gradient: [Float](repeating: 0, count: 6), images: 64, centre: Self.centre)
            #expect(theta == Self.centre, "\(kind)")
            // SGD without momentum: one step is θ − lr·wd·(θ − θ₀).
            let plain = OptimizerSettings(kind: .sgd, learningRate: Self.lr, weightDecay: Self.wd)
            var sgd = OptimizerState<Float>(parameterCount: 6, settings: plain)
            var moved = Self.initial
            sgd.apply(plain, learningRate: Self.lr, parameters: &moved, gradient: [Float](repeating: 0, count: 6), images: 64, centre: Self.centre)
            for i in 0..<6 { #expect(abs(moved[i] - (Self.initial[i] - 0.2 * (Self.initial[i] - Self.centre[i]))) < 1e-6) }
        }
    }

    /// In a stream, with every loss weight 0 (the step is the decay alone), the mask stays at its
    /// random initial maps with the option and shrinks towards 0 without it; off is the default
    /// stream bit for bit.
    @Test func streamKeepsItsInitialMaps() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let silent = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, fixedTemperature: false)
        var on = try task.stream(heads: 2, hyperparameters: .with { $0.objective = silent; $0.optimizer.decayTowardsInitial = true })
        var off = try task.stream(heads: 2, hyperparameters: .with { $0.objective = silent })
        let start = on.mask.values
        #expect(start == off.mask.values && start.contains { $0 != 0 })
        for _ in 0..<5 {
            let (images, _) = task.images(16)
            _ = try on.process(images)
            _ = try off.process(images)
        }
        #expect(on.mask.values == start)
        let shrunk = off.mask.values.indices.filter { start[$0] != 0 }.allSatisfy { abs(off.mask.values[$0]) < abs(start[$0]) }
        #expect(shrunk)
        #expect(on.memoryBytes == off.memoryBytes + start.count * MemoryLayout<Float>.stride)
        // The centre is the seed's mask: a checkpoint restores it, and switching the option on
        // later gives the same centre.
        let restored = try StreamState(checkpoint: on.checkpointData())
        #expect(restored == on)
        var later = try task.stream(heads: 2, hyperparameters: .with { $0.objective = silent })
        try later.setHyperparameters(.with { $0.objective = silent; $0.optimizer.decayTowardsInitial = true })
        #expect(later.decayCentre == start)
    }

    /// Absent in stored hyper-parameters is off, off is not written (stored settings encode as
    /// before), on round-trips.
    @Test func storedForm() throws {
        let off = try JSONEncoder().encode(RAdaHyperparameters())
        #expect(!String(decoding: off, as: UTF8.self).contains("decayTowardsInitial"))
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: off) == RAdaHyperparameters())
        let on = RAdaHyperparameters.with { $0.optimizer.decayTowardsInitial = true }
        let encoded = try JSONEncoder().encode(on)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""decayTowardsInitial":true"#))
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: encoded) == on)
        #expect(RAdaHyperparameters().optimizer.decayTowardsInitial == false)
    }
}
