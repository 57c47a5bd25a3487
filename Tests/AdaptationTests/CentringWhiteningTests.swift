import Foundation
@testable import RadaNumerics
import SafeTensors
import Testing
@testable import Adaptation

/// `EmbeddingCentring.whitening`: the centred embeddings whitened by the stream's running
/// covariance shrunk towards the identity, behind centring's gate; its moments are stream state
/// (checkpoint, reset, memory).
@Suite struct CentringWhiteningTests {
    static let whitened = EmbeddingCentring(weight: 1, memoryImages: 20, whitening: 0.5, whiteningRefreshImages: 8)

    static func stream(_ task: inout SyntheticTask, settings: EmbeddingCentring = whitened, batches: [Int] = [6, 6, 6]) throws -> StreamState {
        var stream = try task.stream(heads: 2, hyperparameters: .with {
            $0.objective.confidenceThreshold = nil
            $0.optimizer.learningRate = 1e-2
            $0.centring = settings
            $0.domainMemory = DomainMemory()  // (the memory of domains has its own suite)
        }, seed: 42)
        for batch in batches { _ = try stream.process(task.images(batch).0) }
        return stream
    }

    /// Double-precision D×D product.
    static func product(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
        var c = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for k in 0..<d { for j in 0..<d { c[i * d + j] += a[i * d + k] * b[k * d + j] } } }
        return c
    }

    /// The shrunk covariance A = (1 − ρ)·I + ρ·D·Σ/tr Σ in Double, Σ = S − m·mᵀ.
    static func shrunk(_ secondMoment: [Double], _ mean: [Float], rho: Double) -> [Double] {
        let d = mean.count
        var sigma = (0..<(d * d)).map { secondMoment[$0] - Double(mean[$0 / d]) * Double(mean[$0 % d]) }
        let trace = (0..<d).reduce(0.0) { $0 + sigma[$1 * d + $1] }
        for i in 0..<(d * d) { sigma[i] *= rho * Double(d) / trace }
        for i in 0..<d { sigma[i * d + i] += 1 - rho }
        return sigma
    }

    // MARK: the stream

    /// Fresh: zero-shot bit for bit (nothing seen, nothing centred or whitened). memoryBytes
    /// counts the moments (D² Float64 and D² Float32) from creation; after batches they are held;
    /// a reset returns to the fresh stream; turning whitening off drops the moments and their
    /// bytes and keeps the mean.
    @Test func freshStreamIsZeroShotAndStateIsAccounted() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var stream = try task.stream(heads: 2, hyperparameters: .with { $0.objective.confidenceThreshold = nil; $0.centring = Self.whitened }, seed: 42)
        let fresh = stream
        let (images, _) = task.images(6)
        #expect(try stream.process(images).logits == stream.zeroShotLogits(images))
        #expect(stream.embeddingMean.secondMoment.count == 64 && stream.embeddingMean.whitener.count == 64)
        for _ in 0..<3 { _ = try stream.process(task.images(4).0) }
        #expect(stream.memoryBytes == fresh.memoryBytes)
        stream.reset()
        #expect(stream == fresh)
        var on = try Self.stream(&task)
        let mean = on.embeddingMean.mean
        try on.setHyperparameters(.with { $0.objective.confidenceThreshold = nil; $0.centring = .init(weight: 1, memoryImages: 20) })
        #expect(on.embeddingMean.mean == mean && !on.embeddingMean.hasWhitening && on.memoryBytes == fresh.memoryBytes - 64 * (8 + 4))
    }

    /// The running second moment is the exp(−B/M)-weighted mean of f·fᵀ (Double reference), and
    /// W = A^(−1/2): W·A·W = I and W symmetric, to 1e-5.
    @Test func momentsAndWhitenerMatchTheReference() {
        var generator = SeededGenerator(seed: 7)
        let d = 6, classes = 10
        let settings = EmbeddingCentring(weight: 1, memoryImages: 30, whitening: 0.7, whiteningRefreshImages: 1)
        var running = RunningEmbeddingMean(dimension: d)
        var seen: [[Float]] = []
        for batch in [1, 5, 17, 2] {
            // Anisotropic images: dimension i scaled by i + 1, plus a common shift.
            let features = (0..<(batch * d)).map { Float(generator.nextSymmetric(bound: 1)) * Float($0 % d + 1) + 0.3 }
            running.add(features, entropies: [Float](repeating: 1, count: batch), classes: classes, settings: settings)
            seen.append(features)
        }
        var reference = [Double](repeating: 0, count: d * d), total = 0.0
        for (j, batch) in seen.enumerated() {
            let later = seen[(j + 1)...].reduce(0) { $0 + $1.count / d }
            let w = Foundation.exp(-Double(later) / 30)
            for b in 0..<(batch.count / d) {
                for i in 0..<d { for k in 0..<d { reference[i * d + k] += w * Double(batch[b * d + i]) * Double(batch[b * d + k]) } }
                total += w
            }
        }
        for i in 0..<(d * d) { #expect(abs(running.secondMoment[i] - reference[i] / total) < 1e-6 * max(1, abs(reference[i] / total)), "S[\(i)]") }
        // Refreshed after every batch (R = 1): W from the final moments.
        let a = Self.shrunk(running.secondMoment, running.mean, rho: 0.7)
        let w = running.whitener.map(Double.init)
        let waw = Self.product(Self.product(w, a, d), w, d)
        for i in 0..<d {
            for j in 0..<d {
                #expect(abs(waw[i * d + j] - (i == j ? 1 : 0)) < 1e-5, "WAW[\(i),\(j)]")
                #expect(w[i * d + j] == w[j * d + i] || abs(w[i * d + j] - w[j * d + i]) < 1e-6)
            }
        }
        #expect(running.secondMoment == (0..<(d * d)).map { running.secondMoment[($0 % d) * d + $0 / d] })
    }

    /// Each row: y = f − g·a·m, y' = (1 − g)·y + g·y·W, rescaled to ‖f‖ (Double reference), at a
    /// half-open and a fully open gate; a shut gate returns the rows untouched.
    @Test func whitenedRowsMatchTheReference() {
        var generator = SeededGenerator(seed: 13)
        let d = 5, batch = 4
        let settings = EmbeddingCentring(weight: 0.8, entropyThreshold: 0.3, entropyRamp: 0.4, whitening: 0.5)
        let m = (0..<d).map { _ in Float(generator.nextSymmetric(bound: 0.5)) }
        let w = (0..<(d * d)).map { Float(generator.nextSymmetric(bound: 1)) + ($0 % (d + 1) == 0 ? 2 : 0) }
        let f = (0..<(batch * d)).map { _ in Float(generator.nextSymmetric(bound: 1)) }
        for (u, g) in [(0.2, 0.0), (0.5, 0.5), (0.9, 1.0)] {
            let running = RunningEmbeddingMean(mean: m, entropy: u, weight: 30, secondMoment: [Double](repeating: 0, count: d * d), whitener: w)
            let out = running.centred(f, batch: batch, settings: settings)
            if g == 0 {
                #expect(out == f)
                continue
            }
            for b in 0..<batch {
                let row = (0..<d).map { Double(f[b * d + $0]) }
                let y = (0..<d).map { row[$0] - 0.8 * g * Double(m[$0]) }
                let yw = (0..<d).map { j in (0..<d).reduce(0.0) { $0 + y[$1] * Double(w[$1 * d + j]) } }
                let z = (0..<d).map { (1 - g) * y[$0] + g * yw[$0] }
                let norm = { (v: [Double]) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
                for i in 0..<d { #expect(abs(Double(out[b * d + i]) - z[i] * norm(row) / norm(z)) < 1e-5, "u \(u) row \(b) [\(i)]") }
            }
        }
    }

    /// W is recomputed after min(R, weight at the last refresh) images: with batches of one image
    /// and a long memory, after images 1, 2, 4, 8 and then every R = 8.
    @Test func refreshScheduleDoublesThenSettles() {
        var generator = SeededGenerator(seed: 3)
        let d = 4
        let settings = EmbeddingCentring(weight: 1, memoryImages: 1e7, whitening: 0.5, whiteningRefreshImages: 8)
        var running = RunningEmbeddingMean(dimension: d)
        var refreshedAt: [Int] = []
        for image in 1...32 {
            let features = (0..<d).map { _ in Float(generator.nextSymmetric(bound: 1)) }
            running.add(features, entropies: [1], classes: 10, settings: settings)
            if running.imagesSinceWhitener == 0 { refreshedAt.append(image) }
        }
        #expect(refreshedAt == [1, 2, 4, 8, 16, 24, 32])
    }

    /// The whitener's products split their rows over the kernel threads (at D = 512 two parts
    /// of 256 rows with two threads, one with one): the bits are the same either way.
    @Test func whitenerBitsDoNotDependOnTheThreads() {
        var generator = SeededGenerator(seed: 9)
        let d = 512
        var running = RunningEmbeddingMean(dimension: d)
        let settings = EmbeddingCentring(weight: 1, memoryImages: 300, whitening: 0.6, whiteningRefreshImages: 1e6)
        for _ in 0..<4 {
            let features = (0..<(64 * d)).map { Float(generator.nextSymmetric(bound: 1)) * Float($0 % d % 7 + 1) }
            running.add(features, entropies: [Float](repeating: 1, count: 64), classes: 10, settings: settings)
        }
        let one = BLAS.withThreads(1) { RunningEmbeddingMean.whitener(secondMoment: running.secondMoment, mean: running.mean, shrinkage: 0.6) }
        let two = BLAS.withThreads(2) { RunningEmbeddingMean.whitener(secondMoment: running.secondMoment, mean: running.mean, shrinkage: 0.6) }
        #expect(BLAS.withThreads(2) { Symmetric.productParts(dimension: d) } == 2)
        #expect(one == two)
        #expect(one != (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1 : 0 }, "a whitener, not the identity")
    }

    /// The scheduler's cost of a request counts B/R of a refresh of W (21 products of 2·D³): at
    /// D = 512 a stream that refreshes after every image costs 5.6 GFLOP more a 1-image request
    /// than one on the default R = 256, which pays 1/256 of a refresh an image.
    @Test func requestCostCountsTheRefresh() throws {
        let task = SyntheticTask(classes: 10, dimension: 512)
        func stream(refresh: Double) throws -> StreamState {
            try task.stream(heads: 8, hyperparameters: .with {
                $0.centring = EmbeddingCentring(weight: 1, memoryImages: 500, whitening: 0.3, whiteningRefreshImages: refresh)
            })
        }
        let (everyImage, byDefault, every64) = (try stream(refresh: 1), try stream(refresh: 256), try stream(refresh: 64))
        let refresh = 21 * 2 * 512.0 * 512 * 512
        #expect(everyImage.stepFLOPs(batch: 1) - byDefault.stepFLOPs(batch: 1) == refresh * (1 - 1.0 / 256))
        #expect(every64.stepFLOPs(batch: 64) - byDefault.stepFLOPs(batch: 64) == refresh * (1 - 1.0 / 4))
        #expect(everyImage.stepFLOPs(batch: 1) > 5e9)
    }

    /// Moments that are no covariance (a negative eigenvalue large enough to make A indefinite)
    /// give the identity, never NaN; an empty Σ gives the identity too.
    @Test func degenerateMomentsGiveTheIdentity() {
        let d = 3
        let identity: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        // Σ = diag(1, 1, −1.9): trace 0.1, so D·Σ/tr has −57 on its diagonal.
        let indefinite: [Double] = [1, 0, 0, 0, 1, 0, 0, 0, -1.9]
        #expect(RunningEmbeddingMean.whitener(secondMoment: indefinite, mean: [0, 0, 0], shrinkage: 0.9) == identity)
        #expect(RunningEmbeddingMean.whitener(secondMoment: [Double](repeating: 0, count: 9), mean: [0, 0, 0], shrinkage: 0.5) == identity)
        // One image: Σ = 0.
        var running = RunningEmbeddingMean(dimension: d)
        running.add([0.6, 0.8, 0], entropies: [1], classes: 10, settings: Self.whitened)
        #expect(running.whitener == identity)
        // The same image again and again: Σ is rounding only (here below 10⁻⁶ of tr E[f·fᵀ]).
        var repeated = RunningEmbeddingMean(dimension: d)
        for _ in 0..<5 { repeated.add([0.48, 0.6, 0.64], entropies: [1], classes: 10, settings: Self.whitened) }
        let sigma = (0..<d).reduce(0.0) { $0 + repeated.secondMoment[$1 * d + $1] - Double(repeated.mean[$1] * repeated.mean[$1]) }
        #expect(abs(sigma) <= 1e-6 && repeated.whitener == identity)
    }

    // MARK: stored state

    /// The moments are in the checkpoint (two tensors, two header fields): a rebuilt or
    /// restored stream equals the original and answers the next batches identically.
    @Test func checkpointRoundTripsTheMoments() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        var original = try Self.stream(&task, batches: [6, 1, 6, 2])
        #expect(original.embeddingMean.hasWhitening && original.embeddingMean.imagesSinceWhitener > 0)
        let data = try original.checkpointData()
        let file = try SafeTensorsFile(data: data, source: "test")
        #expect(file.info("stream.embedding_second_moment")?.dtype == .f64)
        #expect(try file.doubles("stream.embedding_second_moment") == original.embeddingMean.secondMoment)
        #expect(try file.floats("stream.whitener") == original.embeddingMean.whitener)
        #expect(data.count <= original.maximumCheckpointBytes)
        try expectCheckpointRoundTrip(&original, task: &task)
        // Whitening off: no whitening tensors, and the largest checkpoint is D² · 12 bytes smaller.
        let plain = try Self.stream(&task, settings: .init(weight: 1, memoryImages: 20))
        let plainFile = try SafeTensorsFile(data: plain.checkpointData(), source: "test")
        #expect(plainFile.info("stream.whitener") == nil && plainFile.info("stream.embedding_second_moment") == nil)
        #expect(plain.maximumCheckpointBytes == original.maximumCheckpointBytes - 64 * 12)
    }

    /// Hostile whitening state: each refused with a typed error, the stream unchanged.
    @Test func hostileMomentsAreRefused() throws {
        var task = SyntheticTask(classes: 5, dimension: 8)
        let trained = try Self.stream(&task)
        let good = try trained.checkpointData()
        typealias Edit = CheckpointValidationTests
        var asymmetric = trained.embeddingMean.secondMoment
        asymmetric[1] += 0.5
        var negativeDiagonal = trained.embeddingMean.secondMoment
        negativeDiagonal[9] = -0.1
        let invalid: [(String, Data)] = [
            ("NaN in the second moment", try Edit.tampered(good) { $0.add("stream.embedding_second_moment", shape: [8, 8], values: [Double](repeating: .nan, count: 64)) }),
            ("second moment 2e6", try Edit.tampered(good) { $0.add("stream.embedding_second_moment", shape: [8, 8], values: [Double](repeating: 2e6, count: 64)) }),
            ("asymmetric second moment", try Edit.tampered(good) { $0.add("stream.embedding_second_moment", shape: [8, 8], values: asymmetric) }),
            ("negative diagonal", try Edit.tampered(good) { $0.add("stream.embedding_second_moment", shape: [8, 8], values: negativeDiagonal) }),
            ("infinite whitener", try Edit.tampered(good) { $0.add("stream.whitener", shape: [8, 8], values: [Float](repeating: .infinity, count: 64)) }),
            ("whitener 2e3", try Edit.tampered(good) { $0.add("stream.whitener", shape: [8, 8], values: [Float](repeating: 2e3, count: 64)) }),
            ("negative images since", try Edit.editedHeader(good) { $0["whiteningImagesSince"] = -1.0 }),
            ("weight 1e9", try Edit.editedHeader(good) { $0["whiteningWeight"] = 1e9 }),
            ("one header field", try Edit.editedHeader(good) { $0["whiteningWeight"] = nil }),
            ("tensor missing", try Edit.tampered(good) { $0.remove("stream.whitener") }),
            ("tensors without the header", try Edit.editedHeader(good) { $0["whiteningWeight"] = nil; $0["whiteningImagesSince"] = nil }),
            ("whitening in version 3", try Edit.editedHeader(good) { $0["formatVersion"] = 3 }),
        ]
        var stream = try task.stream(heads: 2, hyperparameters: trained.hyperparameters, seed: 42)
        _ = try stream.process(task.images(3).0)
        for (name, data) in invalid { Edit.expectInvalid(data, into: &stream, "\(name)") }
        // Moments under hyper-parameters that do not whiten (the rebuild path).
        let offButFilled = try Edit.editedHeader(good) { header in
            var hyperparameters = header["hyperparameters"] as! [String: Any]
            var centring = hyperparameters["centring"] as! [String: Any]
            centring["whitening"] = nil
            centring["whiteningRefreshImages"] = nil
            hyperparameters["centring"] = centring
            header["hyperparameters"] = hyperparameters
        }
        #expect(throws: AdaptationError.self) { try StreamState(checkpoint: offButFilled) }
        let before = stream
        let wrongShape = try Edit.tampered(good) { $0.add("stream.whitener", shape: [4, 16], values: [Float](repeating: 0, count: 64)) }
        #expect(throws: AdaptationError.self) { try stream.restore(from: wrongShape) }
        #expect(stream == before)
        try stream.restore(from: good)
        #expect(stream == trained)
    }

    /// Bounds: ρ in [0, 0.99], R in [1, 1e7]. Stored form: the whitening fields are written only
    /// while whitening is on (settings without it encode as before) and read as off when absent.
    @Test func hyperparameterBoundsAndStoredForm() throws {
        func validates(_ centring: EmbeddingCentring) -> Bool { (try? RAdaHyperparameters.with { $0.centring = centring }.validate()) != nil }
        #expect(validates(.init(weight: 1, whitening: 0.99, whiteningRefreshImages: 1)))
        #expect(validates(.init(weight: 1, whitening: 0, whiteningRefreshImages: 1e7)))
        for refused in [EmbeddingCentring(weight: 1, whitening: 1), .init(weight: 1, whitening: -0.1), .init(weight: 1, whitening: .nan),
                        .init(weight: 1, whitening: 0.5, whiteningRefreshImages: 0), .init(weight: 1, whitening: 0.5, whiteningRefreshImages: 2e7)] {
            #expect(throws: AdaptationError.self, "\(refused)") { try RAdaHyperparameters.with { $0.centring = refused }.validate() }
        }
        for field in ["whitening", "whiteningRefreshImages", "batchGateMinimum"] {
            let null = Data(#"{"weight":1,"memoryImages":1000,"entropyThreshold":0,"entropyRamp":0,"\#(field)":null}"#.utf8)
            #expect(throws: DecodingError.self, "\(field): null") { try JSONDecoder().decode(EmbeddingCentring.self, from: null) }
        }
        let plain = try JSONSerialization.jsonObject(with: JSONEncoder().encode(EmbeddingCentring(weight: 1))) as! [String: Any]
        #expect(Set(plain.keys) == ["weight", "memoryImages", "entropyThreshold", "entropyRamp"])
        let on = EmbeddingCentring(weight: 1, whitening: 0.3, whiteningRefreshImages: 100)
        let encoded = try JSONEncoder().encode(on)
        #expect(try JSONDecoder().decode(EmbeddingCentring.self, from: encoded) == on)
        let old = try JSONDecoder().decode(EmbeddingCentring.self, from: Data(#"{"weight":1,"memoryImages":1000,"entropyThreshold":0.18,"entropyRamp":0.05}"#.utf8))
        #expect(old.whitening == 0 && old.whiteningRefreshImages == 256 && !old.whitens && old.batchGateMinimum == 0)
        // The batch gate: 0...10⁶ images, written only while on.
        #expect(validates(.init(weight: 1, batchGateMinimum: 1_000_000)))
        for refused in [-1, 1_000_001] {
            #expect(throws: AdaptationError.self, "\(refused)") { try RAdaHyperparameters.with { $0.centring = .init(weight: 1, batchGateMinimum: refused) }.validate() }
        }
        let gated = EmbeddingCentring(weight: 1, batchGateMinimum: 8)
        let gatedKeys = try JSONSerialization.jsonObject(with: JSONEncoder().encode(gated)) as! [String: Any]
        #expect(gatedKeys["batchGateMinimum"] as? Int == 8)
        #expect(try JSONDecoder().decode(EmbeddingCentring.self, from: JSONEncoder().encode(gated)) == gated)
    }
}
