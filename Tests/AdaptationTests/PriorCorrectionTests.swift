import Foundation
import RadaNumerics
import Testing
@testable import Adaptation

/// `PriorCorrection`: a batch's EM class prior re-weights its answer where the batch is a run of
/// few classes and the centring gate is shut; elsewhere the answer is untouched.
@Suite struct PriorCorrectionTests {
    static let on = PriorCorrection(strength: 1, coverageThreshold: 0.6, coverageRamp: 0.2, minimumBatch: 4)

    /// Eight images of a four-class task: six lean to class 0, two are unsure between 0 and 1.
    static let run: [Float] = (0..<6).flatMap { _ in [5, 0, 0, 0] as [Float] } + (0..<2).flatMap { _ in [1, 1.2, 0, 0] as [Float] }

    /// π̂ is EM's fixed point (π = mean_b normalise(p_b ⊙ π)), the terms are
    /// a·share·(1 − g)·log(K·max(π̂, 10⁻⁴)), and they move the unsure images to the run's class.
    @Test func emPriorOnARunOfOneClass() throws {
        let terms = try #require(Self.on.terms(logits: Self.run, batch: 8, classes: 4, gate: 0))
        let prior = terms.map { Foundation.exp(Double($0)) / 4 }
        var p = [[Double]]()
        for b in 0..<8 { p.append(Kernels.softmax(logits: Self.run[(b * 4)..<((b + 1) * 4)])) }
        // The coverage of q̄ is below c₀ here, so the share is 1.
        var q = [Double](repeating: 0, count: 4)
        for row in p { for c in 0..<4 { q[c] += row[c] / 8 } }
        #expect(-q.reduce(0) { $0 + $1 * Foundation.log($1) } / Foundation.log(4) < 0.6)
        var next = [Double](repeating: 0, count: 4)
        for row in p {
            let total = (0..<4).reduce(0.0) { $0 + row[$1] * prior[$1] }
            for c in 0..<4 { next[c] += row[c] * prior[c] / (total * 8) }
        }
        // (To 5·10⁻⁴: the prior read back from the terms has the two vanishing classes at the floor.)
        for c in 0..<2 { #expect(abs(next[c] - prior[c]) <= 5e-4, "\(c): \(next[c]) vs \(prior[c])") }
        #expect(prior[0] > 0.9 && terms[0] > 0 && terms[1] < 0)
        // The unsure images (1.2 for class 1 against 1 for class 0) now answer class 0.
        #expect(Self.run[6 * 4 + 1] + terms[1] < Self.run[6 * 4] + terms[0])
        // Half the gate, half the terms.
        let half = try #require(Self.on.terms(logits: Self.run, batch: 8, classes: 4, gate: 0.5))
        for c in 0..<4 { #expect(abs(half[c] - terms[c] / 2) <= 1e-5 * max(1, abs(terms[c]))) }
    }

    /// No correction when off, for a batch below the minimum, with the gate fully open, or for a
    /// batch whose mean prediction covers the classes (coverage above c₀ + w).
    @Test func untouchedWhereItDoesNotApply() {
        #expect(PriorCorrection().terms(logits: Self.run, batch: 8, classes: 4, gate: 0) == nil)
        #expect(PriorCorrection(strength: 1, minimumBatch: 9).terms(logits: Self.run, batch: 8, classes: 4, gate: 0) == nil)
        #expect(Self.on.terms(logits: Self.run, batch: 8, classes: 4, gate: 1) == nil)
        let covering: [Float] = (0..<8).flatMap { b in (0..<4).map { c in c == b % 4 ? 3 : 0 } as [Float] }
        #expect(Self.on.terms(logits: covering, batch: 8, classes: 4, gate: 0) == nil)
    }

    /// In a stream: the answer is the uncorrected stream's plus the terms (from the second request:
    /// before it centring has seen nothing of the domain), while the mask and the class Gaussians
    /// learn exactly what they learn without the correction.
    @Test func streamAnswerIsCorrectedAndLearningIsNot() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        let shut = EmbeddingCentring(weight: 1, memoryImages: 20, entropyThreshold: 2)
        let plain = RAdaHyperparameters.with { $0.objective.confidenceThreshold = nil; $0.centring = shut; $0.priorCorrection = PriorCorrection() }
        var corrected = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.centring = shut
            $0.priorCorrection = Self.on
        }, seed: 7)
        var twin = try task.stream(heads: 2, hyperparameters: plain, seed: 7)
        for request in 0..<4 {
            // A run of class 0: images b·K of the synthetic task.
            let (all, _) = task.images(32)
            var run = Matrix(rows: 8, cols: 8)
            for r in 0..<8 { for j in 0..<8 { run[r, j] = all[r * 4, j] } }
            let a = try corrected.process(run), b = try twin.process(run)
            // The first request: centring has seen nothing, so nothing is known of the domain.
            guard request > 0 else {
                #expect(a == b)
                continue
            }
            let terms = try #require(Self.on.terms(logits: b.logits.storage, batch: 8, classes: 4, gate: 0))
            for r in 0..<8 { for c in 0..<4 { #expect(a.logits[r, c] == b.logits[r, c] + terms[c]) } }
            #expect(corrected.mask == twin.mask && corrected.gaussians == twin.gaussians && corrected.running == twin.running)
        }
    }

    /// The batch's own zero-shot entropy gates the correction as the running gate does: after a
    /// confident run the running gate is shut, yet an unsure batch (a new, harder domain the
    /// running means have not caught up with) is answered uncorrected.
    @Test func unsureBatchIsNotCorrectedWhileTheRunningGateLags() throws {
        var task = SyntheticTask(classes: 4, dimension: 8)
        func run(noise: Float) -> Matrix {
            let (all, _) = task.images(32, noise: noise)
            var run = Matrix(rows: 8, cols: 8)
            for r in 0..<8 { for j in 0..<8 { run[r, j] = all[r * 4, j] } }
            return run
        }
        let confident = (0..<3).map { _ in run(noise: 0.1) }, unsure = run(noise: 2)
        // The gates' threshold halfway between the two kinds of batch's zero-shot entropy.
        let probe = try task.stream(heads: 2, seed: 7)
        let low = try confident.map { meanEntropy(try probe.zeroShotLogits($0)) }.max()!, high = meanEntropy(try probe.zeroShotLogits(unsure))
        let logK = Float(Foundation.log(4.0))
        #expect(high > low + 0.02 * logK, "\(low) \(high)")
        let threshold = Double((low + high) / 2 / logK)
        let centring = EmbeddingCentring(weight: 1, memoryImages: 1000, entropyThreshold: threshold, entropyRamp: 0)
        let plain = RAdaHyperparameters.with { $0.objective.confidenceThreshold = nil; $0.centring = centring; $0.priorCorrection = PriorCorrection() }
        var gated = Self.on
        (gated.batchEntropyThreshold, gated.batchEntropyRamp) = (threshold, 0)
        var corrected = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.centring = centring
            $0.priorCorrection = gated
        }, seed: 7)
        var twin = try task.stream(heads: 2, hyperparameters: plain, seed: 7)
        for batch in confident { _ = (try corrected.process(batch), try twin.process(batch)) }
        #expect(corrected.centringGate == 0)
        let b = try twin.process(unsure)
        // Without the batch's own gate the correction would apply here.
        #expect(Self.on.terms(logits: b.logits.storage, batch: 8, classes: 4, gate: 0) != nil)
        #expect(try corrected.process(unsure) == b)
    }
    /// The request's cost counts the correction's EM (at most 100 iterations of 3·B·K, batches of
    /// 8 or more) and centring's zero-shot product (2·B·K·D) and whitening (2·B·D², and B/R of a
    /// refresh of W, 21 products of 2·D³).
    @Test func stepCostCountsTheCorrectionAndCentring() throws {
        let task = SyntheticTask(classes: 5, dimension: 8)
        let stream = try task.stream(heads: 2)
        let uncorrected = try task.stream(heads: 2, hyperparameters: .with { $0.priorCorrection = PriorCorrection() })
        #expect(stream.stepFLOPs(batch: 8) - uncorrected.stepFLOPs(batch: 8) == 100 * 3 * 8 * 5)
        #expect(stream.stepFLOPs(batch: 7) == uncorrected.stepFLOPs(batch: 7))
        let plain = try task.stream(heads: 2, hyperparameters: .with { $0.priorCorrection = PriorCorrection(); $0.centring = EmbeddingCentring() })
        let refresh: Double = 21 * 2 * 8 * 8 * 8
        let centring: Double = 2 * 8 * 5 * 8 + 2 * 8 * 8 * 8
        #expect(uncorrected.stepFLOPs(batch: 8) - plain.stepFLOPs(batch: 8) == centring + refresh * 8 / 256)
    }
}
