import Foundation
import Testing
@testable import Adaptation

/// `OptimizerSettings.queryKeyDecayShare`: the mask's query and key maps take only a share of
/// AdamW's decoupled decay.
@Suite struct QueryKeyDecayTests {
    /// The ranges are the first four weights and the first four biases, in ascending order.
    @Test func rangesAreTheQueryAndKeyMaps() {
        let d = 8
        let ranges = RAdaMask<Float>.queryKeyRanges(dimension: d)
        #expect(ranges == [0..<4 * d * d, 6 * d * d..<6 * d * d + 4 * d])
        #expect(ranges[0].upperBound == RAdaMask<Float>.weightRange(.value, dimension: d).lowerBound)
        #expect(ranges[1].upperBound == RAdaMask<Float>.biasRange(.value, dimension: d).lowerBound)
    }

    static let lr = 0.01, wd = 20.0
    static let start: [Float] = (0..<10).map { Float($0) * 0.37 - 1.5 }
    static let ranges = [2..<4, 7..<9]
    static func inRanges(_ i: Int) -> Bool { ranges.contains { $0.contains(i) } }

    /// With no gradient one AdamW step multiplies the ranges by 1 − lr·wd·share and the rest by
    /// 1 − lr·wd; share 0 leaves the ranges bit for bit.
    @Test func decayScalesWithTheShare() {
        let settings = OptimizerSettings(kind: .adamW, learningRate: Self.lr, weightDecay: Self.wd)
        for share in [0.0, 0.25, 1.0] {
            var state = OptimizerState<Float>(parameterCount: 10, settings: settings)
            var theta = Self.start
            state.apply(settings, learningRate: Self.lr, parameters: &theta, gradient: [Float](repeating: 0, count: 10), images: 64,
                        partialDecay: (Self.ranges, share))
            for i in 0..<10 {
                let factor = Float(1 - Self.lr * Self.wd * (Self.inRanges(i) ? share : 1))
                #expect(theta[i] == Self.start[i] * factor, "share \(share), \(i)")
            }
        }
    }

    /// With a gradient, over three steps: share 1 is the plain rule bit for bit; with share 0 the
    /// ranges move exactly as without decay and the rest exactly as with it.
    @Test func sharesAgreeWithThePlainRules() {
        let settings = OptimizerSettings(kind: .adamW, learningRate: Self.lr, weightDecay: Self.wd)
        let undecayed = OptimizerSettings(kind: .adamW, learningRate: Self.lr, weightDecay: 0)
        let gradient: [Float] = (0..<10).map { Float(sin(Double($0) + 1)) * 0.3 }
        func run(_ s: OptimizerSettings, _ partial: (ranges: [Range<Int>], share: Double)?) -> [Float] {
            var state = OptimizerState<Float>(parameterCount: 10, settings: s)
            var theta = Self.start
            for _ in 0..<3 { state.apply(s, learningRate: Self.lr, parameters: &theta, gradient: gradient, images: 64, partialDecay: partial) }
            return theta
        }
        let plain = run(settings, nil), none = run(undecayed, nil)
        #expect(run(settings, (Self.ranges, 1)) == plain)
        let spared = run(settings, (Self.ranges, 0))
        for i in 0..<10 { #expect(spared[i] == (Self.inRanges(i) ? none[i] : plain[i]), "\(i)") }
        #expect(spared != plain && spared != none)
    }

    /// In a stream whose step is the decay alone (every loss weight 0), share 0 keeps the random
    /// query and key maps bit for bit while the value map shrinks as under the default; share 0.5
    /// shrinks them by less than the default; 1 is the default.
    @Test func streamSparesTheQueryAndKeyMaps() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let silent = AdaptationObjective(entropyWeight: 0, confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, fixedTemperature: false)
        var streams = try [1.0, 0.5, 0.0].map { share in
            try task.stream(heads: 2, hyperparameters: .with { $0.objective = silent; $0.optimizer.queryKeyDecayShare = share })
        }
        let start = streams[0].mask.values
        for _ in 0..<4 {
            let (images, _) = task.images(16)
            for s in streams.indices { _ = try streams[s].process(images) }
        }
        let d = 8
        let queryKey = RAdaMask<Float>.queryKeyRanges(dimension: d).flatMap { Array($0) }.filter { start[$0] != 0 }
        let value = Array(RAdaMask<Float>.weightRange(.value, dimension: d)).filter { start[$0] != 0 }
        let (all, half, spared) = (streams[0].mask.values, streams[1].mask.values, streams[2].mask.values)
        #expect(queryKey.allSatisfy { spared[$0] == start[$0] })
        #expect(queryKey.allSatisfy { abs(all[$0]) < abs(half[$0]) && abs(half[$0]) < abs(start[$0]) })
        #expect(value.allSatisfy { spared[$0] == all[$0] && half[$0] == all[$0] && abs(all[$0]) < abs(start[$0]) })
        #expect(RAdaHyperparameters().optimizer.queryKeyDecayShare == 1)
    }

    /// Absent is 1 and 1 is not written; other shares round-trip in a checkpoint; a share outside
    /// [0, 1], or below 1 with another optimiser, is refused with a message that names the field.
    @Test func storedFormAndValidation() throws {
        let plain = try JSONEncoder().encode(RAdaHyperparameters())
        #expect(!String(decoding: plain, as: UTF8.self).contains("queryKeyDecayShare"))
        let chosen = RAdaHyperparameters.with { $0.optimizer.queryKeyDecayShare = 0.25 }
        let encoded = try JSONEncoder().encode(chosen)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""queryKeyDecayShare":0.25"#))
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: encoded) == chosen)

        var task = SyntheticTask(classes: 4, dimension: 8)
        var stream = try task.stream(heads: 2, hyperparameters: chosen)
        _ = try stream.process(task.images(8).0)
        #expect(try StreamState(checkpoint: stream.checkpointData()) == stream)

        for bad in [RAdaHyperparameters.with { $0.optimizer.queryKeyDecayShare = 1.5 },
                    .with { $0.optimizer.queryKeyDecayShare = -0.1 },
                    .with { $0.optimizer.queryKeyDecayShare = .nan },
                    .with { $0.optimizer.kind = .adam; $0.optimizer.queryKeyDecayShare = 0 }] {
            #expect { try bad.validate() } throws: { "\($0)".contains("queryKeyDecayShare") }
        }
    }
}
