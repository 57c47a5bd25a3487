import Foundation
import RadaNumerics
import SafeTensors
import Testing
@testable import Adaptation

/// `GaussianFusion` / `ClassGaussians`: the pooled online class Gaussians fused with the mask's
/// logits behind centring's gate, against a direct Float64 computation from the weighted points;
/// their statistics are stream state (checkpoint, reset, memory, hostile input).
@Suite struct ClassGaussiansTests {
    static let fusion = GaussianFusion(maxWeight: 3, weightPerEvidence: 0.05, forgetting: 0.9, initialVariance: 1, shrinkage: 1e-3, priorWindow: 4)
    /// Centring whose gate opens fully as soon as one batch has been seen (threshold 0, a step).
    static let openGate = EmbeddingCentring(weight: 1, memoryImages: 20, whitening: 0.5, whiteningRefreshImages: 8)

    static func hyperparameters(gaussians: GaussianFusion = fusion, centring: EmbeddingCentring = openGate) -> RAdaHyperparameters {
        .with {
            $0.objective.confidenceThreshold = nil
            $0.optimizer.learningRate = 1e-2
            $0.centring = centring
            $0.gaussians = gaussians
            $0.domainMemory = DomainMemory()  // (the memory of domains has its own suite)
        }
    }

    static func stream(_ task: inout SyntheticTask, gaussians: GaussianFusion = fusion, batches: [Int] = [6, 6, 6]) throws -> StreamState {
        var stream = try task.stream(heads: 2, hyperparameters: hyperparameters(gaussians: gaussians), seed: 42)
        for batch in batches { _ = try stream.process(task.images(batch).0) }
        return stream
    }

    // MARK: the estimator

    /// The discriminant of two learnt batches equals LDA computed directly from the weighted
    /// points: each class's prior pseudo-image (t_k, weight 1, spread σ/D·I) and every image with
    /// weight γ^age·y_k; μ_k their weighted mean; Σ the pooled scatter about each class's own
    /// mean over the total weight; g_k = xᵀΛμ_k − ½μ_kᵀΛμ_k with Λ = ((1 − ε)Σ + εI)⁻¹. The
    /// adjustment is min(ρ·mean c, η)·gate·g, to 1e-4 of its largest value (Float32 scores).
    @Test func discriminantMatchesTheWeightedPoints() {
        var task = SyntheticTask(classes: 3, dimension: 5, seed: 11)
        let settings = GaussianFusion(maxWeight: 3, weightPerEvidence: 0.4, forgetting: 0.8, initialVariance: 2, shrinkage: 0.01)
        var generator = SeededGenerator(seed: 5)
        var model = ClassGaussians()
        var points: [(x: [Double], y: [Double])] = []
        var ages: [Int] = []
        for batch in [4, 3] {
            let (images, _) = task.images(batch)
            var labels = [Double](repeating: 0, count: batch * 3)
            for i in labels.indices { labels[i] = (generator.nextSymmetric(bound: 1) + 1) / 2 }
            model.learn(images.storage, labels: labels, batch: batch, classes: 3, settings: settings)
            ages = ages.map { $0 + batch } + (0..<batch).map { batch - 1 - $0 }
            for b in 0..<batch { points.append((images.storage[(b * 5)..<((b + 1) * 5)].map(Double.init), Array(labels[(b * 3)..<((b + 1) * 3)]))) }
        }
        #expect(model.images == 7)
        let (k, d) = (3, 5)
        let t = task.text.storage.map(Double.init)
        var counts = [Double](repeating: 1, count: k), means = t
        for c in 0..<k {
            var sum = Array(t[(c * d)..<((c + 1) * d)])
            for (p, age) in zip(points, ages) {
                let w = Foundation.pow(0.8, Double(age)) * p.y[c]
                counts[c] += w
                for i in 0..<d { sum[i] += w * p.x[i] }
            }
            for i in 0..<d { means[c * d + i] = sum[i] / counts[c] }
            #expect(abs(model.evidence[c] - (counts[c] - 1)) <= 1e-12)
        }
        var scatter = [Double](repeating: 0, count: d * d)
        func add(_ x: [Double], _ w: Double, _ c: Int) {
            for i in 0..<d { for j in 0..<d { scatter[i * d + j] += w * (x[i] - means[c * d + i]) * (x[j] - means[c * d + j]) } }
        }
        for c in 0..<k {
            add(Array(t[(c * d)..<((c + 1) * d)]), 1, c)
            for i in 0..<d { scatter[i * d + i] += 2.0 / Double(d) }
            for (p, age) in zip(points, ages) { add(p.x, Foundation.pow(0.8, Double(age)) * p.y[c], c) }
        }
        let total = counts.reduce(0, +)
        var a = scatter.map { 0.99 * $0 / total }
        for i in 0..<d { a[i * d + i] += 0.01 }
        let lambda = Self.inverse(a, d)
        let (test, _) = task.images(2)
        let gate = 0.7
        let weight = min(0.4 * total / Double(k), 3) * gate
        let adjustment = model.adjustment(test.storage, batch: 2, text: task.text, settings: settings, gate: gate)!
        var expected = [Double](repeating: 0, count: 2 * k)
        for b in 0..<2 {
            for c in 0..<k {
                var g = 0.0
                for i in 0..<d {
                    for j in 0..<d {
                        let m = means[c * d + j] * lambda[i * d + j]
                        g += Double(test.storage[b * d + i]) * m - 0.5 * means[c * d + i] * m
                    }
                }
                expected[b * k + c] = weight * g
            }
        }
        let scale = expected.map(abs).max()!
        for i in expected.indices { #expect(abs(Double(adjustment[i]) - expected[i]) <= 1e-4 * scale, "\(i): \(adjustment[i]) vs \(expected[i])") }
        // Gate 0: no adjustment at all.
        #expect(model.adjustment(test.storage, batch: 2, text: task.text, settings: settings, gate: 0) == nil)
    }

    /// Gauss–Jordan inverse in Float64 (the reference's Λ).
    static func inverse(_ m: [Double], _ d: Int) -> [Double] {
        var a = m, v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        for col in 0..<d {
            let pivot = (col..<d).max { abs(a[$0 * d + col]) < abs(a[$1 * d + col]) }!
            for j in 0..<d { a.swapAt(col * d + j, pivot * d + j); v.swapAt(col * d + j, pivot * d + j) }
            let p = a[col * d + col]
            for j in 0..<d { a[col * d + j] /= p; v[col * d + j] /= p }
            for r in 0..<d where r != col {
                let f = a[r * d + col]
                for j in 0..<d { a[r * d + j] -= f * a[col * d + j]; v[r * d + j] -= f * v[col * d + j] }
            }
        }
        return v
    }

    /// Labels: each image's softmax moves the running prior (a plain mean for the first
    /// `priorWindow` images, then exponential), then class k's label is scaled by
    /// min(1, 1/(K·π_k)): a run of one class learns that class at 1/(K·π) of its rate.
    @Test func labelsAreBalancedByTheRunningPrior() {
        var model = ClassGaussians()
        let settings = GaussianFusion(maxWeight: 3, priorWindow: 2)
        // Four images, all certain of class 0 (logits 0 / −100).
        let logits: [Float] = (0..<4).flatMap { _ in [0, -100, -100, -100] as [Float] }
        let labels = model.balancedLabels(logits: logits, batch: 4, classes: 4, settings: settings)
        // π after image 1: (1, 0, 0, 0): label 1 · min(1, 1/4) = 0.25, and so for every image.
        for b in 0..<4 { #expect(abs(labels[b * 4] - 0.25) <= 1e-12 && labels[b * 4 + 1] < 1e-40) }
        #expect(abs(model.classPrior[0] - 1) <= 1e-12)
        model.learn([Float](repeating: 0.5, count: 16), labels: labels, batch: 4, classes: 4, settings: settings)
        // Uniform predictions from here: the prior (window 2) halves towards uniform per image.
        let uniform = [Float](repeating: 0, count: 4)
        let next = model.balancedLabels(logits: uniform, batch: 1, classes: 4, settings: settings)
        #expect(abs(model.classPrior[0] - 0.625) <= 1e-12 && abs(model.classPrior[1] - 0.125) <= 1e-12)
        #expect(abs(next[0] - 0.25 * 0.4) <= 1e-12 && abs(next[1] - 0.25) <= 1e-12)
    }

    /// The blocked factor and inverse (recursion past the 32-wide leaves) against A and I, to
    /// 1e-10; A that is not positive definite, or holds NaN, gives no factor.
    @Test func choleskyFactorAndInverse() {
        var generator = SeededGenerator(seed: 9)
        let n = 77
        var b = [Double](repeating: 0, count: n * n)
        for i in b.indices { b[i] = generator.nextSymmetric(bound: 1) }
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for p in 0..<n { a[i * n + j] += b[i * n + p] * b[j * n + p] } } }
        for i in 0..<n { a[i * n + i] += 0.1 }
        let (l, v) = Cholesky.factorWithInverse(a, dimension: n)!
        var worstProduct = 0.0, worstInverse = 0.0
        for i in 0..<n {
            for j in 0..<n {
                var llt = 0.0, lv = 0.0
                for p in 0..<n { llt += l[i * n + p] * l[j * n + p]; lv += l[i * n + p] * v[p * n + j] }
                worstProduct = max(worstProduct, abs(llt - a[i * n + j]) / max(1, abs(a[i * n + j])))
                worstInverse = max(worstInverse, abs(lv - (i == j ? 1 : 0)))
                if j > i { #expect(l[i * n + j] == 0 && v[i * n + j] == 0) }
            }
        }
        #expect(worstProduct <= 1e-10 && worstInverse <= 1e-10, "\(worstProduct) \(worstInverse)")
        var indefinite = a
        indefinite[60 * n + 60] = -1
        #expect(Cholesky.factorWithInverse(indefinite, dimension: n) == nil)
        var nan = a
        nan[3] = .nan
        nan[3 * n] = .nan
        #expect(Cholesky.factorWithInverse(nan, dimension: n) == nil)
    }

    /// The factor alone (triangular solves and symmetric updates past the leaves, n = 77 and
    /// 300): L·Lᵀ = A to 1e-10, zeros above the diagonal, the upper triangle of A never read, and
    /// the same L as `factorWithInverse` to 1e-12; no factor where that gives none.
    @Test func choleskyFactorAlone() {
        var generator = SeededGenerator(seed: 10)
        for n in [77, 300] {
            var b = [Double](repeating: 0, count: n * n)
            for i in b.indices { b[i] = generator.nextSymmetric(bound: 1) }
            var a = [Double](repeating: 0, count: n * n)
            b.withUnsafeBufferPointer { b in
                a.withUnsafeMutableBufferPointer { a in
                    BLAS.dgemm(transB: true, m: n, n: n, k: n, a: b.baseAddress!, lda: n, b: b.baseAddress!, ldb: n, c: a.baseAddress!, ldc: n)
                }
            }
            for i in 0..<n { a[i * n + i] += 0.1 }
            var upperNoise = a
            for i in 0..<n { for j in (i + 1)..<n { upperNoise[i * n + j] = .nan } }
            let l = Cholesky.factor(upperNoise, dimension: n)!
            let (reference, _) = Cholesky.factorWithInverse(a, dimension: n)!
            var worstProduct = 0.0, worstReference = 0.0
            for i in 0..<n {
                for j in 0..<n {
                    var llt = 0.0
                    for p in 0..<n { llt += l[i * n + p] * l[j * n + p] }
                    worstProduct = max(worstProduct, abs(llt - a[i * n + j]) / max(1, abs(a[i * n + j])))
                    worstReference = max(worstReference, abs(l[i * n + j] - reference[i * n + j]))
                    if j > i { #expect(l[i * n + j] == 0) }
                }
            }
            #expect(worstProduct <= 1e-10 && worstReference <= 1e-12, "n \(n): \(worstProduct) \(worstReference)")
            var indefinite = a
            indefinite[60 * n + 60] = -1
            #expect(Cholesky.factor(indefinite, dimension: n) == nil)
            var nan = a
            nan[3 * n] = .nan
            #expect(Cholesky.factor(nan, dimension: n) == nil)
        }
    }

    // MARK: the stream

    /// The fusion never changes what the mask learns: a stream with it and its twin without it
    /// have the same mask, optimiser and running statistics batch after batch, and the fused
    /// stream's logits are the twin's plus the adjustment its Gaussians gave before the batch.
    /// The first batch (no image seen, the gate shut) is zero-shot bit for bit. While the gate
    /// is open the discriminant is formed after each batch's answer, ready for the next; while
    /// it is shut, never.
    @Test func fusionAddsToTheMaskWithoutChangingIt() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var fused = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(), seed: 42)
        var twin = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(gaussians: GaussianFusion()), seed: 42)
        let (first, _) = task.images(6)
        #expect(try fused.process(first).logits == fused.zeroShotLogits(first))
        #expect(!fused.gaussians.isRefreshed)  // the gate was shut: no scores were needed
        _ = try twin.process(first)
        var adjusted = 0
        for batch in [6, 1, 4, 6] {
            let (images, _) = task.images(batch)
            #expect(fused.centringGate == 1)
            let f = try fused.centredFeatures(images).storage
            var model = fused.gaussians
            // On the library the stream's own products use (`StreamState.numerics`).
            let adjustment = BLAS.onCallerThread { model.adjustment(f, batch: batch, text: task.text, settings: Self.fusion, gate: 1)! }
            let classified = try fused.classify(images)
            let a = try fused.process(images), b = try twin.process(images)
            #expect(classified == a.logits)
            for i in a.logits.storage.indices { #expect(a.logits.storage[i] == b.logits.storage[i] + adjustment[i]) }
            // The next batch's discriminant is formed after this batch's answer.
            #expect(fused.gaussians.isRefreshed)
            #expect(fused.mask == twin.mask && fused.running == twin.running && fused.embeddingMean == twin.embeddingMean)
            if a.predictions != b.predictions { adjusted += 1 }
        }
        #expect(fused.gaussians.images == 23 && twin.gaussians.isEmpty)
        // Gate shut throughout (threshold above any entropy): the stream is its twin's exactly,
        // while its Gaussians still learn.
        let shut = EmbeddingCentring(weight: 1, memoryImages: 20, entropyThreshold: 2)
        var closed = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(centring: shut), seed: 42)
        var closedTwin = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(gaussians: GaussianFusion(), centring: shut), seed: 42)
        for _ in 0..<3 {
            let (images, _) = task.images(5)
            #expect(try closed.process(images) == closedTwin.process(images))
        }
        #expect(closed.gaussians.images == 15 && !closed.gaussians.isRefreshed)
    }

    /// Labels given (the benchmark's oracle): the Gaussians learn them as hard labels.
    @Test func labelsFromTheCallerAreHard() throws {
        var task = SyntheticTask(classes: 4, dimension: 6)
        var stream = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(), seed: 1)
        let (images, labels) = task.images(4)
        _ = try stream.process(images, labels: labels)
        // Image b of class b: evidence γ^(3−b).
        for c in 0..<4 { #expect(abs(stream.gaussians.evidence[c] - Foundation.pow(0.9, Double(3 - c))) <= 1e-12) }
        #expect(stream.gaussians.classPrior == [0, 0, 0, 0])
    }

    /// Reset: back to the fresh stream. Memory counts the statistics (Float64), the
    /// discriminant (Float32) and the text's Gram (Float64) from creation, 8·(2K + KD + D²) +
    /// 4·(D² + KD + K) + 8·D² bytes; turning
    /// the fusion off drops them; a step's flop count grows by the Gaussians' share only while on.
    @Test func resetMemoryAndSettings() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var stream = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(), seed: 42)
        let fresh = stream
        for batch in [6, 6, 2] { _ = try stream.process(task.images(batch).0) }
        #expect(!stream.gaussians.isEmpty && stream.memoryBytes == fresh.memoryBytes)
        stream.reset()
        #expect(stream == fresh)
        let off = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(gaussians: GaussianFusion()), seed: 42)
        #expect(fresh.memoryBytes - off.memoryBytes == 8 * (10 + 40 + 64) + 4 * (64 + 40 + 5) + 8 * 64)
        #expect(ClassGaussians.memoryBytes(classes: 1000, dimension: 512) == 8 * (2000 + 512_000 + 262_144) + 4 * (262_144 + 512_000 + 1000) + 8 * 262_144)
        #expect(fresh.stepFLOPs(batch: 4) - off.stepFLOPs(batch: 4) == ClassGaussians.flops(batch: 4, classes: 5, dimension: 8))
        for batch in [6, 6] { _ = try stream.process(task.images(batch).0) }
        try stream.setHyperparameters(off.hyperparameters)
        #expect(stream.gaussians.isEmpty && stream.memoryBytes == off.memoryBytes)
    }

    // MARK: stored state

    /// The statistics are in the checkpoint (four Float64 tensors, one header field): a rebuilt
    /// or restored stream equals the original and answers the next batches identically (the
    /// discriminant is recomputed from them). A stream whose Gaussians are empty stores none.
    @Test func checkpointRoundTripsTheStatistics() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var original = try Self.stream(&task, batches: [6, 1, 6, 2])
        let data = try original.checkpointData()
        let file = try SafeTensorsFile(data: data, source: "test")
        #expect(file.info("stream.gaussian_scatter")?.dtype == .f64)
        #expect(try file.doubles("stream.gaussian_sums") == original.gaussians.sums)
        #expect(try file.doubles("stream.gaussian_evidence") == original.gaussians.evidence)
        #expect(data.count <= original.maximumCheckpointBytes)
        try expectCheckpointRoundTrip(&original, task: &task)
        let empty = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(), seed: 42)
        let emptyFile = try SafeTensorsFile(data: empty.checkpointData(), source: "test")
        #expect(emptyFile.info("stream.gaussian_sums") == nil)
        #expect(try StreamState(checkpoint: empty.checkpointData()) == empty)
        let off = try task.stream(heads: 2, hyperparameters: Self.hyperparameters(gaussians: GaussianFusion()), seed: 42)
        #expect(empty.maximumCheckpointBytes - off.maximumCheckpointBytes == 8 * (10 + 40 + 64))
    }

    /// Hostile Gaussian state: each refused with a typed error, the stream unchanged. Bounded
    /// statistics that are no scatter of real images load, and give no scores rather than NaN.
    @Test func hostileStatisticsAreRefused() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        let trained = try Self.stream(&task)
        let good = try trained.checkpointData()
        typealias Edit = CheckpointValidationTests
        var asymmetric = trained.gaussians.scatter
        asymmetric[1] += 0.5
        var negativeDiagonal = trained.gaussians.scatter
        negativeDiagonal[9] = -0.1
        let invalid: [(String, Data)] = [
            ("NaN evidence", try Edit.tampered(good) { $0.add("stream.gaussian_evidence", shape: [5], values: [1, 2, .nan, 1, 1] as [Double]) }),
            ("negative evidence", try Edit.tampered(good) { $0.add("stream.gaussian_evidence", shape: [5], values: [1, 2, -1, 1, 1] as [Double]) }),
            ("evidence 1e8", try Edit.tampered(good) { $0.add("stream.gaussian_evidence", shape: [5], values: [1, 2, 1e8, 1, 1] as [Double]) }),
            ("sums 1e11", try Edit.tampered(good) { $0.add("stream.gaussian_sums", shape: [5, 8], values: [Double](repeating: 1e11, count: 40)) }),
            ("infinite sums", try Edit.tampered(good) { $0.add("stream.gaussian_sums", shape: [5, 8], values: [Double](repeating: .infinity, count: 40)) }),
            ("asymmetric scatter", try Edit.tampered(good) { $0.add("stream.gaussian_scatter", shape: [8, 8], values: asymmetric) }),
            ("negative diagonal", try Edit.tampered(good) { $0.add("stream.gaussian_scatter", shape: [8, 8], values: negativeDiagonal) }),
            ("prior sums to 2", try Edit.tampered(good) { $0.add("stream.gaussian_prior", shape: [5], values: [0.4, 0.4, 0.4, 0.4, 0.4] as [Double]) }),
            ("negative prior", try Edit.tampered(good) { $0.add("stream.gaussian_prior", shape: [5], values: [1.2, -0.2, 0, 0, 0] as [Double]) }),
            ("tensor missing", try Edit.tampered(good) { $0.remove("stream.gaussian_prior") }),
            ("tensors without the header", try Edit.editedHeader(good) { $0["gaussianImages"] = nil }),
            ("fractional images", try Edit.editedHeader(good) { $0["gaussianImages"] = 2.5 }),
            ("zero images", try Edit.editedHeader(good) { $0["gaussianImages"] = 0.0 }),
            ("Gaussians in version 4", try Edit.editedHeader(good) { $0["formatVersion"] = 4 }),
        ]
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        _ = try stream.process(task.images(3).0)
        for (name, data) in invalid { Edit.expectInvalid(data, into: &stream, "\(name)") }
        let wrongShape = try Edit.tampered(good) { $0.add("stream.gaussian_sums", shape: [8, 5], values: [Double](repeating: 0, count: 40)) }
        let before = stream
        #expect(throws: AdaptationError.self) { try stream.restore(from: wrongShape) }
        #expect(stream == before)
        // Statistics under hyper-parameters without the fusion (the rebuild path).
        let offButFilled = try Edit.editedHeader(good) { header in
            var hyperparameters = header["hyperparameters"] as! [String: Any]
            hyperparameters["gaussians"] = nil
            header["hyperparameters"] = hyperparameters
        }
        #expect(throws: AdaptationError.self) { try StreamState(checkpoint: offButFilled) }
        // Within the bounds but no scatter: huge sums and no scatter make Σ indefinite.
        let indefinite = try Edit.tampered(good) {
            $0.add("stream.gaussian_scatter", shape: [8, 8], values: [Double](repeating: 0, count: 64))
            $0.add("stream.gaussian_sums", shape: [5, 8], values: (0..<40).map { Double($0 % 7) * 1e3 })
        }
        try stream.restore(from: indefinite)
        let (images, _) = task.images(4)
        let logits = try stream.process(images).logits.storage
        #expect(logits.allSatisfy { $0.isFinite })
        let centred = try stream.centredFeatures(images).storage
        #expect(stream.gaussians.adjustmentWithoutCaching(centred, batch: 4, text: task.text, settings: Self.fusion, gate: 1) == nil)
        try stream.restore(from: good)
        #expect(stream == trained)
    }

    /// Bounds of every setting; stored form: `gaussians` reads as off when absent; null is refused.
    @Test func hyperparameterBoundsAndStoredForm() throws {
        func validates(_ g: GaussianFusion) -> Bool { (try? RAdaHyperparameters.with { $0.gaussians = g }.validate()) != nil }
        #expect(validates(GaussianFusion(maxWeight: 100, weightPerEvidence: 100, forgetting: 0.5, initialVariance: 1e-6, shrinkage: 0.5, priorWindow: 1)))
        #expect(validates(GaussianFusion(maxWeight: 0, forgetting: 0.999_999, initialVariance: 1e6, shrinkage: 1e-6, priorWindow: 1e7)))
        for refused in [GaussianFusion(maxWeight: 101), .init(maxWeight: -1), .init(maxWeight: .nan), .init(maxWeight: 3, weightPerEvidence: -0.1),
                        .init(maxWeight: 3, forgetting: 1), .init(maxWeight: 3, forgetting: 0.4), .init(maxWeight: 3, initialVariance: 0),
                        .init(maxWeight: 3, shrinkage: 0), .init(maxWeight: 3, shrinkage: 0.6), .init(maxWeight: 3, priorWindow: 0.5),
                        .init(maxWeight: 3, priorWindow: .infinity)] {
            #expect(throws: AdaptationError.self, "\(refused)") { try RAdaHyperparameters.with { $0.gaussians = refused }.validate() }
        }
        // Written whether on or off (a client's partial settings are merged into the defaults'
        // encoded form); read as off when absent, as hyper-parameters stored before it existed.
        let off = RAdaHyperparameters.with { $0.gaussians = GaussianFusion() }
        var plain = try JSONSerialization.jsonObject(with: JSONEncoder().encode(off)) as! [String: Any]
        #expect((plain["gaussians"] as? [String: Any])?["maxWeight"] as? Double == 0)
        plain["gaussians"] = nil
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONSerialization.data(withJSONObject: plain)) == off)
        let on = RAdaHyperparameters.with { $0.gaussians = Self.fusion }
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(on)) as! [String: Any]
        #expect(object["gaussians"] != nil)
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONEncoder().encode(on)) == on)
        object["gaussians"] = NSNull()
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONSerialization.data(withJSONObject: object)) }
    }
}
