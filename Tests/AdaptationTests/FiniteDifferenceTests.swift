import Foundation
import Testing
@testable import Adaptation

/// Central finite differences in Float64 against the hand-written backward pass, for every
/// parameter of all six maps (B=2, K=3, D=8, H=2), with each optional loss term on and off.
@Suite struct FiniteDifferenceTests {
    static let batch = 2, classes = 3, dimension = 8, heads = 2

    /// A mask away from the identity (random output map too) and unit-norm inputs, all seeded.
    /// At s = 100 the inputs scatter around one direction (cosines vary as little as CLIP's), else
    /// the softmaxes saturate and finite differences measure curvature rather than slope.
    static func setUp(logitScale: Double, temperature: Double) throws -> (MaskNetwork<Double>, RAdaMask<Double>, [Double], [Double]) {
        var generator = SeededGenerator(seed: 7)
        let base = (0..<dimension).map { _ in generator.nextSymmetric(bound: 1) }
        let shared = logitScale > 50 ? 1.0 : 0.0
        func unitRows(_ rows: Int) -> [Double] {
            var x = (0..<(rows * dimension)).map { shared * base[$0 % dimension] + generator.nextSymmetric(bound: 1) * (1 - 0.8 * shared) }
            for r in 0..<rows {
                let norm = (0..<dimension).map { x[r * dimension + $0] * x[r * dimension + $0] }.reduce(0, +).squareRoot()
                for j in 0..<dimension { x[r * dimension + j] /= norm }
            }
            return x
        }
        let text = unitRows(classes)
        let features = unitRows(batch)
        var mask = RAdaMask<Double>(dimension: dimension, seed: 11)
        // A smaller output map at s = 100 keeps the mask near 1, as training does.
        let outputBound = shared > 0 ? 0.005 : 0.4
        for i in RAdaMask<Double>.weightRange(.output, dimension: dimension) { mask.values[i] = generator.nextSymmetric(bound: outputBound) }
        for i in RAdaMask<Double>.biasRange(.output, dimension: dimension) { mask.values[i] = generator.nextSymmetric(bound: outputBound) }
        let network = try MaskNetwork<Double>(text: text, classes: classes, dimension: dimension, heads: heads, logitScale: logitScale, temperature: temperature)
        return (network, mask, features, [0.5, 0.2, 0.3])
    }

    static func loss(_ objective: AdaptationObjective, _ network: MaskNetwork<Double>, _ mask: RAdaMask<Double>, _ f: [Double], labels: [Int]?, anchor: [Double]) -> LossEvaluation<Double>? {
        let forward = network.forward(mask: mask, features: f, batch: batch)
        return AdaptationLoss.evaluate(
            objective, logits: forward.logits, zeroShot: network.zeroShotLogits(features: f, batch: batch),
            maxDeviation: forward.maxDeviation, batch: batch, classes: classes, labels: labels, anchor: anchor)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var objective: AdaptationObjective
        var labels: [Int]? = nil
        var logitScale = 13.0
        var temperature = 1.0
        /// Set the filter threshold halfway between the two samples' entropies.
        var splitFilter = false
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "entropy", objective: .entropyOnly),
        Case(name: "entropy, τ = 0.5, s = 100", objective: .entropyOnly, logitScale: 100, temperature: 0.5),
        Case(name: "entropy + filter", objective: AdaptationObjective(confidenceThreshold: 0, diversityWeight: 0, zeroShotAnchorWeight: 0, fixedTemperature: false), splitFilter: true),
        Case(name: "entropy + diversity", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 1, diversityMode: .batchMean, zeroShotAnchorWeight: 0, fixedTemperature: false)),
        Case(name: "entropy + anchor", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0.7, diversityMode: .runningAnchor, zeroShotAnchorWeight: 0, fixedTemperature: false)),
        Case(name: "entropy + zero-shot anchor", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0.8, fixedTemperature: false)),
        Case(name: "fixed temperature + diversity + zero-shot anchor", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 1, diversityMode: .batchMean, zeroShotAnchorWeight: 1.5, fixedTemperature: true)),
        Case(name: "fixed temperature + estimated prior + zero-shot anchor", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 1.2, diversityMode: .estimatedPrior, zeroShotAnchorWeight: 0.7, fixedTemperature: true)),
        Case(name: "fixed temperature + diversity with the shift detector", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 2, diversityMode: .batchMean, zeroShotAnchorWeight: 0.5, diversityShiftPower: 3, fixedTemperature: true)),
        Case(name: "fixed temperature + diversity with both gates", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 2, diversityMode: .batchMean, zeroShotAnchorWeight: 0.5, diversityShiftPower: 2, diversityUncertaintyPower: 1.5, fixedTemperature: true)),
        Case(name: "entropy with reliability weights", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, entropyReliabilityPower: 2, fixedTemperature: false)),
        Case(name: "fixed temperature + reliability weights + diversity + zero-shot anchor", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 1.5, diversityMode: .batchMean, zeroShotAnchorWeight: 0.6, diversityUncertaintyPower: 1, entropyReliabilityPower: 0.7, fixedTemperature: true)),
        Case(name: "entropy + diversity with the shift detector", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 2, diversityMode: .batchMean, zeroShotAnchorWeight: 0, diversityShiftPower: 5, fixedTemperature: false)),
        Case(name: "entropy + L∞", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, maskRegularization: 0.3, fixedTemperature: false)),
        Case(name: "fixed temperature + diversity", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 1, diversityMode: .batchMean, zeroShotAnchorWeight: 0, fixedTemperature: true)),
        Case(name: "all terms", objective: AdaptationObjective(confidenceThreshold: 0, diversityWeight: 1, diversityMode: .batchMean, zeroShotAnchorWeight: 0, maskRegularization: 0.2, fixedTemperature: true), splitFilter: true),
        Case(name: "cross-entropy", objective: AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, fixedTemperature: false), labels: [2, 0]),
    ]

    /// Every analytic partial derivative within 1e-5 (1e-4 at s = 100) of the central difference (five-point stencil, h = 1e-5; 1e-6 at s = 100),
    /// relative to the largest gradient entry of its tensor (see the floor below).
    @Test(arguments: cases) func gradientMatchesFiniteDifferences(_ testCase: Case) throws {
        let (network, mask, f, anchor) = try Self.setUp(logitScale: testCase.logitScale, temperature: testCase.temperature)
        var objective = testCase.objective
        if testCase.splitFilter {
            let probe = try #require(Self.loss(AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, fixedTemperature: objective.fixedTemperature), network, mask, f, labels: nil, anchor: anchor))
            objective.confidenceThreshold = probe.entropies.reduce(0, +) / 2 / log(Double(Self.classes))
        }
        let evaluation = try #require(Self.loss(objective, network, mask, f, labels: testCase.labels, anchor: anchor))
        if testCase.splitFilter { #expect(evaluation.keptCount == 1) }
        let gradient = network.gradient(
            mask: mask, features: f, batch: Self.batch, logitGradient: evaluation.logitGradient,
            deviationGradient: evaluation.deviationGradient)
        // At s = 100 the attention scores scale with s² and curve sharply: a smaller step keeps the
        // truncation error (∝ h²) below the tolerance.
        let h = testCase.logitScale > 50 ? 1e-6 : 1e-5
        for map in RAdaMap.allCases {
            for range in [RAdaMask<Double>.weightRange(map, dimension: Self.dimension), RAdaMask<Double>.biasRange(map, dimension: Self.dimension)] {
                var numeric = [Double]()
                for i in range {
                    // Five-point stencil: truncation error O(h⁴), needed where attention saturates.
                    func loss(at offset: Double) throws -> Double {
                        var shifted = mask
                        shifted.values[i] += offset
                        return try #require(Self.loss(objective, network, shifted, f, labels: testCase.labels, anchor: anchor)).loss
                    }
                    let near = try loss(at: h) - loss(at: -h), far = try loss(at: 2 * h) - loss(at: -2 * h)
                    numeric.append((8 * near - far) / (12 * h))
                }
                // Relative to the tensor's largest entry, but never to less than 1e-6 of the largest
                // gradient overall: finite differences carry an absolute error (≈ ε·|L|/h) that a
                // nearly flat tensor (query 3 under saturated attention at s = 100) cannot resolve.
                let scale = max(gradient[range].map(abs).max()!, 1e-6 * gradient.map(abs).max()!)
                let error = zip(gradient[range], numeric).map { abs($0 - $1) }.max()! / scale
                // At s = 100 the attention scores grow like s², so the loss itself is only computed
                // to ≈ 1e-13 relative (exp of arguments in the hundreds); that noise over h bounds
                // what the differences can confirm for the flattest tensors.
                let tolerance = testCase.logitScale > 50 ? 1e-4 : 1e-5
                #expect(error < tolerance, "\(testCase.name): \(map.tensorPrefix) error \(error)")
                #expect(numeric.contains { $0 != 0 } || map == .output, "\(testCase.name): \(map.tensorPrefix) has no gradient at all")
            }
        }
    }
}
