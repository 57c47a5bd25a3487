import Foundation
import RadaNumerics
import Testing

@testable import CLIP

/// Reference inputs and embeddings written by `tools/make_reference.py` (transformers' CLIPModel
/// in float64 on the stored weights).
struct ReferenceOutputs {
    var images: Int
    var pixels: [Float]
    var texts: [[Int]]
    var embedDim: Int
    var imageEmbeddings: Matrix
    var textEmbeddings: Matrix

    init(directory: URL) throws {
        let reference = directory.appendingPathComponent("reference")
        let index = try JSONSerialization.jsonObject(
            with: Data(contentsOf: reference.appendingPathComponent("index.json"))) as! [String: Any]
        func floats(_ key: String) throws -> [Float] {
            let data = try Data(contentsOf: reference.appendingPathComponent(index[key] as! String))
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        images = index["images"] as! Int
        embedDim = index["embed_dim"] as! Int
        texts = index["texts"] as! [[Int]]
        pixels = try floats("pixels")
        imageEmbeddings = Matrix(rows: images, cols: embedDim, storage: try floats("image_embeds"))
        textEmbeddings = Matrix(rows: texts.count, cols: embedDim, storage: try floats("text_embeds"))
    }
}

/// Worst row-wise cosine similarity and largest absolute difference between two embedding sets.
func agreement(_ actual: Matrix, _ expected: Matrix) -> (minCosine: Float, maxAbsDiff: Float) {
    precondition(actual.rows == expected.rows && actual.cols == expected.cols)
    var minCosine: Float = 1
    var maxAbsDiff: Float = 0
    for r in 0..<actual.rows {
        let a = actual.row(r)
        let b = expected.row(r)
        var dot: Double = 0, na: Double = 0, nb: Double = 0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
            maxAbsDiff = max(maxAbsDiff, abs(a[i] - b[i]))
        }
        minCosine = min(minCosine, Float(dot / (na * nb).squareRoot()))
    }
    return (minCosine, maxAbsDiff)
}

@Suite("Towers against the committed tiny reference")
struct TowerFixtureTests {
    /// Stated tolerances: float32 GEMMs against a float64 reference on identical (f16) weights.
    static let minCosine: Float = 0.99999
    static let maxAbsDiff: Float = 1e-5

    @Test("embeddings match transformers' CLIPModel", arguments: ["tiny-clip", "tiny-openclip"])
    func matchesReference(fixture: String) throws {
        let directory = Fixtures.url(fixture)
        let model = try CLIPModel.load(from: directory)
        let reference = try ReferenceOutputs(directory: directory)
        #expect(model.embeddingDimension == reference.embedDim)

        let images = model.embedImages(pixels: reference.pixels, count: reference.images)
        let imageAgreement = agreement(images, reference.imageEmbeddings)
        #expect(imageAgreement.minCosine >= Self.minCosine)
        #expect(imageAgreement.maxAbsDiff <= Self.maxAbsDiff)

        let texts = model.embedTexts(reference.texts)
        let textAgreement = agreement(texts, reference.textEmbeddings)
        #expect(textAgreement.minCosine >= Self.minCosine)
        #expect(textAgreement.maxAbsDiff <= Self.maxAbsDiff)
        print("\(fixture): image cos ≥ \(imageAgreement.minCosine) max|Δ| \(imageAgreement.maxAbsDiff); "
              + "text cos ≥ \(textAgreement.minCosine) max|Δ| \(textAgreement.maxAbsDiff)")
    }

    @Test("a batch gives the same rows as one item at a time (padding and batching are invisible)")
    func batchingIsInvisible() throws {
        let directory = Fixtures.url("tiny-clip")
        let model = try CLIPModel.load(from: directory)
        let reference = try ReferenceOutputs(directory: directory)
        let batch = model.embedTexts(reference.texts)
        for (index, ids) in reference.texts.enumerated() {
            let single = model.embedTexts([ids])
            #expect(agreement(single, Matrix(rows: 1, cols: batch.cols, storage: batch.row(index))).maxAbsDiff <= 1e-5)
        }
        let perImage = reference.pixels.count / reference.images
        let images = model.embedImages(pixels: reference.pixels, count: reference.images)
        let last = model.embedImages(pixels: Array(reference.pixels.suffix(perImage)), count: 1)
        #expect(agreement(last, Matrix(rows: 1, cols: images.cols, storage: images.row(reference.images - 1))).maxAbsDiff <= 1e-5)
    }

    /// What a server's load does to a request: its images share backbone batches of any size
    /// with others'. BLAS's kernels depend on the number of rows, which once gave an image other
    /// last bits in a batch of 4 than alone (the projection, now one row at a time). Texts are
    /// not there yet: a batch pads them to its longest, and a text's bits then differ with the
    /// padding at float rounding (`batchingIsInvisible` bounds it).
    @Test("an image embeds to the same bits in a batch of any size, on one thread or two",
          arguments: Self.precisionsHere)
    func embeddingsDoNotDependOnTheBatch(precision: TowerPrecision) throws {
        let directory = Fixtures.url("tiny-clip")
        let model = try CLIPModel.load(from: directory, precision: precision)
        let reference = try ReferenceOutputs(directory: directory)
        let perImage = reference.pixels.count / reference.images
        for threads in [1, 2] {
            BLAS.withThreads(threads) {
                let alone = (0..<reference.images).map {
                    model.embedImages(pixels: Array(reference.pixels[$0 * perImage ..< ($0 + 1) * perImage]), count: 1).storage
                }
                for size in [2, 3, 4, 5, 8, 12, 17] {
                    let pixels = (0..<size).flatMap { i in reference.pixels[(i % reference.images) * perImage ..< (i % reference.images + 1) * perImage] }
                    let batch = model.embedImages(pixels: pixels, count: size)
                    for i in 0..<size {
                        #expect(batch.row(i) == alone[i % reference.images], "\(precision), \(threads) threads, image \(i) of \(size)")
                    }
                }
            }
        }
    }

    /// fp32 and every 16-bit kernel this machine runs.
    static let precisionsHere: [TowerPrecision] = [.float32] + BF16PackedMatrix.Kernel.available.map { .bfloat16($0) }
        + (FP16PackedMatrix.isAvailable ? [.float16] : [])

    /// 120 images make every scratch buffer of a pass large enough to come from the pool, so
    /// the second and third passes run on buffers the first left behind (not cleared).
    @Test("passes on reused scratch give the bits of the first pass", 
          arguments: Self.precisionsHere)
    func reusedScratchIsInvisible(precision: TowerPrecision) throws {
        let directory = Fixtures.url("tiny-clip")
        let model = try CLIPModel.load(from: directory, precision: precision)
        let reference = try ReferenceOutputs(directory: directory)
        let copies = 120 / reference.images
        let many = Array([[Float]](repeating: reference.pixels, count: copies).joined())
        let first = model.embedImages(pixels: many, count: copies * reference.images)
        let other = model.embedImages(pixels: many.map { 1 - $0 }, count: copies * reference.images)
        let again = model.embedImages(pixels: many, count: copies * reference.images)
        #expect(again.storage == first.storage)
        #expect(other.storage != first.storage)
        let single = model.embedImages(pixels: reference.pixels, count: reference.images)
        #expect(agreement(Matrix(rows: reference.images, cols: first.cols, storage: Array(first.storage.prefix(single.storage.count))), single).maxAbsDiff <= 1e-5)
    }

    /// With two threads and at least four images, each thread takes its share of the images
    /// through the blocks alone; a profiled pass never splits that way, so it is the reference.
    @Test("a pass split by images gives the bits of one pass over all of them",
          arguments: Self.precisionsHere)
    func splitByImagesIsInvisible(precision: TowerPrecision) throws {
        let directory = Fixtures.url("tiny-clip")
        let model = try CLIPModel.load(from: directory, precision: precision)
        let reference = try ReferenceOutputs(directory: directory)
        let many = Array([[Float]](repeating: reference.pixels, count: 3).joined()), count = 3 * reference.images
        let (split, whole) = BLAS.withThreads(2) {
            (model.embedImages(pixels: many, count: count), model.embedImages(pixels: many, count: count, profile: TowerProfile()))
        }
        #expect(split.storage == whole.storage, "\(precision)")
        #expect(agreement(split, Matrix(rows: count, cols: split.cols, storage: whole.storage)).minCosine > 0.99999)
    }

    @Test("a profiled pass times every stage and gives the bits of an unprofiled one")
    func profiledPass() throws {
        let directory = Fixtures.url("tiny-clip")
        let model = try CLIPModel.load(from: directory)
        let reference = try ReferenceOutputs(directory: directory)
        let profile = TowerProfile()
        let profiled = model.embedImages(pixels: reference.pixels, count: reference.images, profile: profile)
        #expect(profiled.storage == model.embedImages(pixels: reference.pixels, count: reference.images).storage)
        for stage in TowerProfile.Stage.allCases { #expect(profile.nanoseconds[stage, default: 0] > 0, "\(stage)") }
        let shares = profile.shares
        #expect(abs(shares.map(\.share).reduce(0, +) - 1) < 1e-9)
        #expect(TowerProfile.Stage.allCases.filter(\.isWeightProduct)
            == [.patchProduct, .qkv, .outProjection, .fc1, .fc2])
    }

    @Test("rows are unit length and the layouts' vision towers differ only by activation")
    func activationMatters() throws {
        let hf = try CLIPModel.load(from: Fixtures.url("tiny-clip"))
        let openCLIP = try CLIPModel.load(from: Fixtures.url("tiny-openclip"))
        let reference = try ReferenceOutputs(directory: Fixtures.url("tiny-clip"))
        let a = hf.embedImages(pixels: reference.pixels, count: reference.images)
        let b = openCLIP.embedImages(pixels: reference.pixels, count: reference.images)
        for r in 0..<a.rows {
            let norm = a.row(r).reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        // Same weights, quick_gelu vs gelu in the vision MLPs: clearly different embeddings.
        #expect(agreement(a, b).maxAbsDiff > 1e-3)
        // The text towers share activation (gelu) and weights: the same embeddings.
        #expect(agreement(hf.embedTexts(reference.texts), openCLIP.embedTexts(reference.texts)).maxAbsDiff <= 1e-5)
    }

    @Test("the configured layer-norm epsilon is the one used (0.01 in the tiny text tower)")
    func epsilonIsUsed() throws {
        let dir = try scratchCopy(of: "tiny-clip")
        defer { try? FileManager.default.removeItem(at: dir) }
        try editJSON(dir.appendingPathComponent("config.json")) { root in
            var text = root["text_config"] as! [String: Any]
            text["layer_norm_eps"] = 1e-5
            root["text_config"] = text
        }
        let reference = try ReferenceOutputs(directory: Fixtures.url("tiny-clip"))
        let wrong = agreement(try CLIPModel.load(from: dir).embedTexts(reference.texts), reference.textEmbeddings)
        // Far outside the stated tolerance: the reference really depends on the file's value.
        #expect(wrong.maxAbsDiff > 100 * Self.maxAbsDiff)
    }

    @Test("one shared model embeds from many tasks at once with the serial results")
    func concurrentUse() async throws {
        let directory = Fixtures.url("tiny-clip")
        let model = try CLIPModel.load(from: directory)
        let reference = try ReferenceOutputs(directory: directory)
        let images = model.embedImages(pixels: reference.pixels, count: reference.images)
        let texts = model.embedTexts(reference.texts)
        let results = await withTaskGroup(of: (Matrix, Matrix).self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (model.embedImages(pixels: reference.pixels, count: reference.images), model.embedTexts(reference.texts))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (concurrentImages, concurrentTexts) in results {
            #expect(agreement(concurrentImages, images).maxAbsDiff <= 1e-6)
            #expect(agreement(concurrentTexts, texts).maxAbsDiff <= 1e-6)
        }
    }

    @Test("text pooling positions follow each layout's rule")
    func poolingRules() {
        let ids = [5, 9, 3, 9, 1]
        #expect(TextTower.poolIndex(ids, .argmaxTokenId) == 1)
        #expect(TextTower.poolIndex(ids, .firstOccurrence(of: 3)) == 2)
        #expect(TextTower.poolIndex(ids, .firstOccurrence(of: 7)) == 0)
        #expect(TextTower.poolIndex(ids, .last) == 4)
    }

    @Test("invalid token ids are reported, not embedded")
    func tokenValidation() throws {
        let model = try CLIPModel.load(from: Fixtures.url("tiny-clip"))
        #expect(throws: CLIPInputError.self) { try model.validate(tokenIds: [[998, 1000]]) }
        #expect(throws: CLIPInputError.self) { try model.validate(tokenIds: [Array(repeating: 5, count: 17)]) }
        #expect(throws: CLIPInputError.self) { try model.validate(tokenIds: [[]]) }
        try model.validate(tokenIds: [[998, 999], Array(repeating: 5, count: 16)])
        #expect(model.embedTexts([]).rows == 0)
    }
}
