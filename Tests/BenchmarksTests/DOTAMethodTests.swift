import Foundation
import RadaNumerics
import Testing
@testable import Benchmarks

/// DOTA against its definition: Gaussian scores from an explicitly inverted covariance, the
/// documented updates, online order, fusion weight and reset.
@Suite struct DOTAMethodTests {
    static let (classes, dimension) = (3, 8)

    static func unitRows(_ rows: Int, seed: UInt64) -> Matrix {
        var state = seed
        var m = Matrix(rows: rows, cols: dimension)
        for i in 0..<m.storage.count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            m.storage[i] = Float(Double(state >> 11) / Double(1 << 53)) - 0.5
        }
        m.normalizeRows()
        return m
    }

    static let text = unitRows(classes, seed: 1)
    static let images = unitRows(6, seed: 2)

    /// Λ = A⁻¹ by Gauss–Jordan elimination, for comparison with the Cholesky solve.
    static func inverse(_ a: [Double], _ d: Int) -> [Double] {
        var m = a, inv = (0..<(d * d)).map { $0 / d == $0 % d ? 1.0 : 0.0 }
        for col in 0..<d {
            let pivot = m[col * d + col]
            for j in 0..<d { m[col * d + j] /= pivot; inv[col * d + j] /= pivot }
            for row in 0..<d where row != col {
                let factor = m[row * d + col]
                for j in 0..<d { m[row * d + j] -= factor * m[col * d + j]; inv[row * d + j] -= factor * inv[col * d + j] }
            }
        }
        return inv
    }

    /// γ = 1 is the paper's DOTA; γ = 0.7 also checks the forgetting of the evidence, uniform
    /// or in proportion to each class's soft label.
    @Test(arguments: [(1.0, false), (0.7, false), (0.7, true)]) func scoresAndUpdatesFollowTheDefinition(forgetting: Double, gated: Bool) throws {
        var hyper = DOTAHyperparameters()
        hyper.shrinkage = 0.05
        (hyper.forgetting, hyper.forgettingPerEvidence) = (forgetting, gated)
        var method = try DOTAMethod(textEmbeddings: Self.text, logitScale: 20, hyperparameters: hyper)
        let (k, d) = (Self.classes, Self.dimension)
        // The model by hand: μ, Σ_k, c, updated with the same soft labels.
        var mu = Self.text.storage.map(Double.init)
        var sigma = [[Double]](repeating: (0..<(d * d)).map { $0 / d == $0 % d ? 1.0 / Double(d) : 0 }, count: k)
        var counts = [Double](repeating: 1, count: k)
        for b in 0..<Self.images.rows {
            let x = Self.images.storage[(b * d)..<((b + 1) * d)].map(Double.init)
            var a = [Double](repeating: 0, count: d * d)
            for c in 0..<k { for i in 0..<(d * d) { a[i] += (1 - hyper.shrinkage) / Double(k) * sigma[c][i] } }
            for i in 0..<d { a[i * d + i] += hyper.shrinkage }
            let lambda = Self.inverse(a, d)
            let got = method.scores(Self.images.storage[(b * d)..<((b + 1) * d)])
            for c in 0..<k {
                let m = Array(mu[(c * d)..<((c + 1) * d)])
                var lm = [Double](repeating: 0, count: d)
                for i in 0..<d { for j in 0..<d { lm[i] += lambda[i * d + j] * m[j] } }
                var linear = 0.0, quadratic = 0.0
                for i in 0..<d {
                    linear += x[i] * lm[i]
                    quadratic += m[i] * lm[i]
                }
                let expected = linear - 0.5 * quadratic
                #expect(abs(got[c] - expected) <= 1e-9 * max(1, abs(expected)), "image \(b) class \(c): \(got[c]) vs \(expected)")
            }
            // Soft labels from the same (fp32) zero-shot logits the method fuses with.
            let one = Matrix(rows: 1, cols: d, storage: Array(Self.images.storage[(b * d)..<((b + 1) * d)]))
            let z = try ZeroShotMethod(textEmbeddings: Self.text, logitScale: 20).process(features: one, labels: []).storage.map(Double.init)
            let top = z.max()!
            let e = z.map { Foundation.exp($0 - top) }
            let y = e.map { $0 / e.reduce(0, +) }
            _ = try method.process(features: one, labels: [0])
            for c in 0..<k {
                counts[c] = 1 + (gated ? Foundation.pow(forgetting, y[c]) : forgetting) * (counts[c] - 1)
                let total = counts[c] + y[c]
                let delta = (0..<d).map { x[$0] - mu[c * d + $0] }
                for i in 0..<d { for j in 0..<d { sigma[c][i * d + j] = (counts[c] * sigma[c][i * d + j] + y[c] * delta[i] * delta[j]) / total } }
                for i in 0..<d { mu[c * d + i] = (counts[c] * mu[c * d + i] + y[c] * x[i]) / total }
                counts[c] = total
            }
        }
    }

    @Test func withoutFusionWeightItIsZeroShot() throws {
        var hyper = DOTAHyperparameters()
        hyper.rho = 0
        var method = try DOTAMethod(textEmbeddings: Self.text, logitScale: 20, hyperparameters: hyper)
        let zeroShot = try ZeroShotMethod(textEmbeddings: Self.text, logitScale: 20).process(features: Self.images, labels: [])
        #expect(try method.process(features: Self.images, labels: []) == zeroShot)
    }

    /// A batch is the same as its images one at a time (each predicted before it is learnt), and
    /// reset returns to the first prediction; the Gaussian term really moves the logits.
    @Test func onlineOrderAndReset() throws {
        var whole = try DOTAMethod(textEmbeddings: Self.text, logitScale: 20)
        var single = whole
        let batch = try whole.process(features: Self.images, labels: [])
        var rows: [Float] = []
        for b in 0..<Self.images.rows {
            let one = Matrix(rows: 1, cols: Self.dimension, storage: Array(Self.images.storage[(b * Self.dimension)..<((b + 1) * Self.dimension)]))
            rows += try single.process(features: one, labels: []).storage
        }
        #expect(batch.storage == rows)
        let zeroShot = try ZeroShotMethod(textEmbeddings: Self.text, logitScale: 20).process(features: Self.images, labels: [])
        #expect(batch != zeroShot)
        whole.reset()
        var fresh = try DOTAMethod(textEmbeddings: Self.text, logitScale: 20)
        #expect(try whole.process(features: Self.images, labels: []) == fresh.process(features: Self.images, labels: []))
    }

    @Test func refusesInvalidHyperparameters() {
        var hyper = DOTAHyperparameters()
        hyper.shrinkage = 0
        #expect(throws: MethodError.self) { try DOTAMethod(textEmbeddings: Self.text, logitScale: 20, hyperparameters: hyper) }
        for (forgetting, shift, fast, slow) in [(0.0, 0.0, 64.0, 512.0), (1.5, 0, 64, 512), (1, -0.1, 64, 512), (1, 0.1, 0.5, 512), (1, 0.1, 64, 32)] {
            var bad = DOTAHyperparameters()
            (bad.forgetting, bad.shiftReset, bad.shiftFastWindow, bad.shiftSlowWindow) = (forgetting, shift, fast, slow)
            #expect(throws: MethodError.self) { try DOTAMethod(textEmbeddings: Self.text, logitScale: 20, hyperparameters: bad) }
        }
    }

    /// With forgetting γ, the fusion weight ρ·mean c saturates at ρ·(1 + (1/K)·Σ_k y_k/(1 − γ))
    /// = ρ·(1 + 1/(K(1 − γ))) on a stream that repeats one image: the evidence is bounded.
    @Test func forgettingBoundsTheEvidence() throws {
        var hyper = DOTAHyperparameters()
        (hyper.forgetting, hyper.rho, hyper.eta) = (0.9, 1, 1000)
        var method = try DOTAMethod(textEmbeddings: Self.text, logitScale: 20, hyperparameters: hyper)
        let one = Matrix(rows: 1, cols: Self.dimension, storage: Array(Self.images.storage[0..<Self.dimension]))
        let zeroShot = try ZeroShotMethod.logits(one, Self.text, 20)
        var weight = 0.0
        for _ in 0..<400 {
            // The fused logits are z + w·g: w is the ratio of the adjustment to the score.
            let g = method.scores(one.storage[0..<Self.dimension])
            let logits = try method.process(features: one, labels: [])
            let c = g.indices.max { abs(g[$0]) < abs(g[$1]) }!
            weight = Double(logits.storage[c] - zeroShot.storage[c]) / g[c]
        }
        let bound = 1 + 1 / (Double(Self.classes) * (1 - 0.9))
        #expect(abs(weight - bound) < 1e-3 * bound, "weight \(weight), expected \(bound)")
    }

    /// Images of one entropy level never reset; a lasting jump of the zero-shot entropy resets
    /// the Gaussians once (the model then equals a fresh one fed the images after the reset),
    /// and a level that stays put after it does not reset again.
    @Test func entropyJumpResetsOnce() throws {
        var hyper = DOTAHyperparameters()
        (hyper.shiftReset, hyper.shiftFastWindow, hyper.shiftSlowWindow) = (0.05, 4, 16)
        var method = try DOTAMethod(textEmbeddings: Self.text, logitScale: 20, hyperparameters: hyper)
        // A confident image (its class embedding) and an uncertain one (the classes' mean).
        let confident = Matrix(rows: 1, cols: Self.dimension, storage: Array(Self.text.storage[0..<Self.dimension]))
        var mean = Matrix(rows: 1, cols: Self.dimension)
        for c in 0..<Self.classes { for i in 0..<Self.dimension { mean.storage[i] += Self.text.storage[c * Self.dimension + i] } }
        mean.normalizeRows()
        for _ in 0..<40 { _ = try method.process(features: confident, labels: []) }
        #expect(method.shiftResets == 0)
        var resetAt: Int?
        var fresh = try DOTAMethod(textEmbeddings: Self.text, logitScale: 20, hyperparameters: hyper)
        for i in 0..<60 {
            let logits = try method.process(features: mean, labels: [])
            if resetAt == nil, method.shiftResets == 1 { resetAt = i }
            if resetAt != nil { #expect(logits == (try fresh.process(features: mean, labels: [])), "image \(i) after the reset") }
        }
        #expect(method.shiftResets == 1)
        #expect(resetAt.map { $0 < 4 } == true, "reset at \(String(describing: resetAt))")
        method.reset()
        #expect(method.shiftResets == 0)
    }
}
