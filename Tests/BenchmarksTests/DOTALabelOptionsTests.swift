import Adaptation
import Foundation
import RadaNumerics
import Testing
@testable import Benchmarks

/// The eighteenth round's options of DOTA's pseudo-labels (confident hard labels, class-prior
/// balancing, fused-prediction labels, coverage-weighted fusion) and the rada fusion on the
/// mask's centred embeddings, each against its definition computed by hand.
@Suite struct DOTALabelOptionsTests {
    typealias D = DOTAMethodTests
    static let (k, d, s): (Int, Int, Float) = (D.classes, D.dimension, 20)

    static func row(_ m: Matrix, _ b: Int) -> Matrix {
        Matrix(rows: 1, cols: m.cols, storage: Array(m.storage[(b * m.cols)..<((b + 1) * m.cols)]))
    }

    static func softmax(_ z: [Float]) -> [Double] {
        let top = Double(z.max()!)
        let e = z.map { Foundation.exp(Double($0) - top) }
        return e.map { $0 / e.reduce(0, +) }
    }

    static func zeroShot(_ x: Matrix) throws -> [Float] { try ZeroShotMethod.logits(x, D.text, s).storage }

    /// E = 1 learns every image (a softmax's entropy is below log K unless it is uniform), with a
    /// hard label: one image moves only its arg-max class, μ = (t + x)/2, count 2; a tiny E
    /// learns nothing, so the model stays at its initial state and answers alike twice.
    @Test func confidentLearningUsesHardLabelsOrNothing() throws {
        var hyper = DOTAHyperparameters()
        hyper.confidentEntropy = 1
        var method = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        let x = Self.row(D.images, 0)
        let y = Self.softmax(try Self.zeroShot(x))
        let top = y.indices.max { y[$0] < y[$1] }!
        _ = try method.process(features: x, labels: [])
        #expect(method.learntImages == 1)
        for c in 0..<Self.k {
            #expect(method.counts[c] == (c == top ? 2 : 1))
            for i in 0..<Self.d {
                let t = Double(D.text.storage[c * Self.d + i])
                let expected = c == top ? (t + Double(x.storage[i])) / 2 : t
                #expect(abs(method.means[c * Self.d + i] - expected) < 1e-12, "class \(c) dimension \(i)")
            }
        }
        hyper.confidentEntropy = 1e-6
        var strict = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        let first = try strict.process(features: D.images, labels: [])
        #expect(strict.learntImages == 0 && strict.counts == [1, 1, 1])
        #expect(try strict.process(features: D.images, labels: []) == first)
        hyper.confidentEntropy = 1.5
        #expect(throws: MethodError.self) { try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper) }
    }

    /// π is the plain mean of the soft labels for the first `priorWindow` images, then an
    /// exponential mean with rate 1/window; class c of image i adds y_ic·min(1, 1/(K·π_ic)) to
    /// its count, π_i including image i.
    @Test func priorBalancingWeighsByTheRunningPrior() throws {
        var hyper = DOTAHyperparameters()
        (hyper.priorBalance, hyper.priorWindow) = (true, 2)
        var method = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        var prior = [Double](repeating: 0, count: Self.k), counts = [Double](repeating: 1, count: Self.k)
        for b in 0..<4 {
            let x = Self.row(D.images, b)
            let y = Self.softmax(try Self.zeroShot(x))
            let rate = 1 / min(2, Double(b + 1))
            for c in 0..<Self.k {
                prior[c] = (1 - rate) * prior[c] + rate * y[c]
                counts[c] += y[c] * min(1, 1 / (Double(Self.k) * prior[c]))
            }
            _ = try method.process(features: x, labels: [])
            for c in 0..<Self.k {
                #expect(abs(method.classPrior[c] - prior[c]) < 1e-12, "image \(b) class \(c)")
                #expect(abs(method.counts[c] - counts[c]) < 1e-12, "image \(b) class \(c): \(method.counts[c]) vs \(counts[c])")
            }
        }
        // One image repeated: π = y, so each class's count grows by min(y_c, 1/K) per image.
        var repeated = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        let x = Self.row(D.images, 0)
        let y = Self.softmax(try Self.zeroShot(x))
        for _ in 0..<5 { _ = try repeated.process(features: x, labels: []) }
        for c in 0..<Self.k { #expect(abs(repeated.counts[c] - (1 + 5 * min(y[c], 1 / Double(Self.k)))) < 1e-12) }
    }

    /// With fused labels DOTA learns from softmax(z + w·g) (alone) or softmax(base + w·g) (in a
    /// fusion), w·g the adjustment it predicted for the image: μ_c = (t_c + y_c·x)/(1 + y_c).
    @Test(arguments: [false, true]) func fusedLabelsComeFromTheAdjustedLogits(withBase: Bool) throws {
        var hyper = DOTAHyperparameters()
        (hyper.fusedLabels, hyper.rho) = (true, 2)
        var method = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        let x = Self.row(D.images, 1)
        let z = try Self.zeroShot(x)
        // A base that prefers the last class, as a mask's logits might.
        let base = withBase ? Matrix(rows: 1, cols: Self.k, storage: z.indices.map { z[$0] + ($0 == Self.k - 1 ? 3 : 0) }) : nil
        let g = method.scores(x.storage[...])
        let logits = try method.process(features: x, base: base)
        var labelLogits = [Float](repeating: 0, count: Self.k)
        for c in 0..<Self.k {
            let adjustment = Float(2 * g[c])
            #expect(logits.storage[c] == z[c] + adjustment)
            labelLogits[c] = (base?.storage[c] ?? z[c]) + (logits.storage[c] - z[c])
        }
        let y = Self.softmax(labelLogits)
        let plain = Self.softmax(z)
        #expect(abs(y[Self.k - 1] - plain[Self.k - 1]) > 1e-3, "the labels must differ from zero-shot's")
        for c in 0..<Self.k {
            #expect(abs(method.counts[c] - (1 + y[c])) < 1e-12)
            for i in 0..<Self.d {
                let expected = (Double(D.text.storage[c * Self.d + i]) + y[c] * Double(x.storage[i])) / (1 + y[c])
                #expect(abs(method.means[c * Self.d + i] - expected) < 1e-12)
            }
        }
        #expect(throws: MethodError.self) { try method.process(features: x, base: Matrix(rows: 2, cols: Self.k)) }
    }

    /// The fusion weight is multiplied by (H(q̄)/log K)^P, q̄ the batch's mean zero-shot
    /// prediction: a batch of one image repeated (q̄ one image's, confident) barely fuses.
    @Test func coverageScalesTheFusionWeight() throws {
        var hyper = DOTAHyperparameters()
        hyper.coveragePower = 2
        var covered = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        let plainMethod = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s)
        let batch = D.images
        var mean = [Double](repeating: 0, count: Self.k)
        for b in 0..<batch.rows {
            let p = Self.softmax(try Self.zeroShot(Self.row(batch, b)))
            for c in 0..<Self.k { mean[c] += p[c] / Double(batch.rows) }
        }
        let coverage = Foundation.pow(-mean.reduce(0) { $0 + $1 * Foundation.log($1) } / Foundation.log(Double(Self.k)), 2)
        #expect(coverage > 0.05 && coverage < 1)
        let g = plainMethod.scores(batch.storage[0..<Self.d])
        let z = try Self.zeroShot(batch)
        let logits = try covered.process(features: batch, labels: [])
        for c in 0..<Self.k {
            // The first image: every count 1, so w = ρ·1·coverage.
            #expect(logits.storage[c] == z[c] + Float(0.05 * coverage * g[c]))
        }
        var repeatedRows = Matrix(rows: 4, cols: Self.d)
        for b in 0..<4 { for i in 0..<Self.d { repeatedRows.storage[b * Self.d + i] = D.text.storage[i] } }
        var fresh = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        let zr = try Self.zeroShot(repeatedRows)
        let p = Self.softmax(Array(zr[0..<Self.k]))
        let h = -p.reduce(0) { $0 + $1 * Foundation.log($1) } / Foundation.log(Double(Self.k))
        let gr = plainMethod.scores(repeatedRows.storage[0..<Self.d])
        let lr = try fresh.process(features: repeatedRows, labels: [])
        for c in 0..<Self.k { #expect(abs(Double(lr.storage[c] - zr[c]) - 0.05 * h * h * gr[c]) < 1e-5 * max(1, abs(gr[c]))) }
    }

    static func stream(centring: Bool, threshold: Double = 0) throws -> StreamState {
        var h = RAdaHyperparameters()
        // Gate open from the first image (threshold 0, a step), a short memory, whitening on;
        // threshold 2 (twice log K) keeps it shut.
        h.centring = centring ? EmbeddingCentring(weight: 1, memoryImages: 20, entropyThreshold: threshold, whitening: 0.5, whiteningRefreshImages: 2)
                              : EmbeddingCentring()
        return try StreamState(labels: ["a", "b", "c"], textEmbeddings: D.text, logitScale: Self.s, heads: 2, hyperparameters: h, seed: 3)
    }

    /// Without `centred` and fused labels the fusion is FusedMethod(rada, dota) bit for bit;
    /// with `centred` DOTA models the stream's centred and whitened embeddings, read before the
    /// mask adapts on the batch, and its adjustment is taken against zero-shot on them.
    @Test func radaFusionOnCentredEmbeddings() throws {
        let batches = (0..<3).map { b in Matrix(rows: 2, cols: Self.d, storage: Array(D.images.storage[(b * 2 * Self.d)..<((b + 1) * 2 * Self.d)])) }
        var plain = RAdaDOTAFusion(rada: RAdaMethod(state: try Self.stream(centring: true)), dota: try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s),
                                   centred: false, name: "fuse")
        var reference = FusedMethod(RAdaMethod(state: try Self.stream(centring: true)), try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s),
                                    textEmbeddings: D.text, logitScale: Self.s)
        for batch in batches { #expect(try plain.process(features: batch, labels: []) == reference.process(features: batch, labels: [])) }

        var hyper = DOTAHyperparameters()
        hyper.fusedLabels = true
        var centred = RAdaDOTAFusion(rada: RAdaMethod(state: try Self.stream(centring: true)),
                                     dota: try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper), centred: true, name: "fuse-c")
        var raw = RAdaDOTAFusion(rada: RAdaMethod(state: try Self.stream(centring: true)),
                                 dota: try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper), centred: false, name: "fuse-raw")
        var rada = RAdaMethod(state: try Self.stream(centring: true))
        var dota = try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s, hyperparameters: hyper)
        for (n, batch) in batches.enumerated() {
            _ = try raw.process(features: batch, labels: [])
            let f = try rada.state.centredFeatures(batch)
            // A fresh stream passes the first batch through; afterwards the gate is open.
            #expect((f == batch) == (n == 0), "batch \(n)")
            let zc = try ZeroShotMethod.logits(f, D.text, Self.s)
            var expected = try rada.process(features: batch, labels: [])
            let other = try dota.process(features: f, base: expected)
            for i in expected.storage.indices { expected.storage[i] += other.storage[i] - zc.storage[i] }
            #expect(try centred.process(features: batch, labels: []) == expected, "batch \(n)")
        }
        #expect(centred.dota.means == dota.means)
        #expect(centred.dota.means != raw.dota.means)
        centred.reset()
        #expect(centred.dota.counts == [1, 1, 1] && centred.rada.state.embeddingMean.isEmpty)
    }

    /// With `gated` the Gaussians are added × rada's centring gate g: a stream whose gate stays
    /// shut answers exactly as rada alone (while DOTA still learns), and one whose gate is open
    /// (g = 1 from the second batch; 0 on the first, nothing seen yet) as the ungated fusion.
    @Test(arguments: [0.0, 2.0]) func gatedFusionFollowsTheCentringGate(threshold: Double) throws {
        let batches = (0..<3).map { b in Matrix(rows: 2, cols: Self.d, storage: Array(D.images.storage[(b * 2 * Self.d)..<((b + 1) * 2 * Self.d)])) }
        func fusion(gated: Bool) throws -> RAdaDOTAFusion {
            RAdaDOTAFusion(rada: RAdaMethod(state: try Self.stream(centring: true, threshold: threshold)),
                           dota: try DOTAMethod(textEmbeddings: D.text, logitScale: Self.s), centred: true, gated: gated, name: "fuse")
        }
        var (gated, ungated) = (try fusion(gated: true), try fusion(gated: false))
        var rada = RAdaMethod(state: try Self.stream(centring: true, threshold: threshold))
        for (n, batch) in batches.enumerated() {
            #expect(gated.rada.state.centringGate == (threshold == 0 && n > 0 ? 1 : 0), "batch \(n)")
            let logits = try gated.process(features: batch, labels: [])
            let radaAlone = try rada.process(features: batch, labels: [])
            let fused = try ungated.process(features: batch, labels: [])
            if threshold == 0 && n > 0 {
                #expect(logits == fused && logits != radaAlone, "batch \(n)")
            } else {
                #expect(logits == radaAlone && logits != fused, "batch \(n)")
            }
        }
        #expect(gated.dota.counts == ungated.dota.counts && gated.dota.counts.reduce(0, +) > 3 + 5.9)
    }
}
