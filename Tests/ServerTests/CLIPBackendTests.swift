import CLIP
import Foundation
import RadaNumerics
import Testing
@testable import Server
import Imaging

/// The real backbone behind the server's seam, on the embedded model (models/fashion-clip).
@Suite("CLIPBackend: text encoded in parts, images served between them")
struct CLIPBackendTests {
    static func backend() throws -> CLIPBackend {
        try BLAS.load()
        return CLIPBackend(encoder: try CLIPEncoder.load(from: Fixtures.embeddedModel, maxBatch: 8))
    }

    @Test("a class set encoded in parts equals the encoder's one-pass embeddings")
    func partsAreExact() async throws {
        let backend = try Self.backend()
        let labels = (0..<40).map { "class \($0)" }
        let templates = (0..<7).map { "a photo number \($0) of a {}." }
        let parts = try await backend.classEmbeddings(labels: labels, prompts: nil, templates: templates)
        let whole = try backend.encoder.classEmbeddings(try ClassSet.templated(labels: labels, templates: templates))
        #expect(labels.count * templates.count > 4 * CLIPBackend.maxPartPrompts / 4, "the set spans several parts")
        #expect(parts.rows == 40 && parts.cols == whole.cols)
        let worst = zip(parts.storage, whole.storage).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-6, "largest difference \(worst)")
    }

    @Test("parts are sized from the measured cost per prompt: one prompt under a tiny budget, the cap under a huge one")
    func partsSizedByTime() async throws {
        let encoder = try Self.backend().encoder
        let labels = (0..<5).map { "class \($0)" }
        let templates = (0..<9).map { "a photo number \($0) of a {}." }
        let tight = CLIPBackend(encoder: encoder, maxPartTime: .nanoseconds(1))
        #expect(tight.partPrompts() == CLIPBackend.firstPartPrompts, "nothing measured yet")
        let cut = try await tight.classEmbeddings(labels: labels, prompts: nil, templates: templates)
        #expect(tight.partPrompts() == 1)
        let loose = CLIPBackend(encoder: encoder, maxPartTime: .seconds(3600))
        let whole = try await loose.classEmbeddings(labels: labels, prompts: nil, templates: templates)
        #expect(loose.partPrompts() == CLIPBackend.maxPartPrompts)
        // One prompt per job or all at once: the same class embeddings.
        let worst = zip(cut.storage, whole.storage).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 1e-6, "largest difference \(worst)")
    }

    @Test("a label without prompts of its own is described by the templates, the others by their prompts")
    func labelsWithoutPromptsUseTemplates() async throws {
        let backend = try Self.backend()
        let templates = ["a photo of a {}.", "a blurry photo of a {}."]
        let prompts = ["Bag": ["a leather handbag", "a tote bag"]]
        let mixed = try await backend.classEmbeddings(labels: ["Bag", "Sneaker"], prompts: prompts, templates: templates)
        let expected = try backend.encoder.classEmbeddings(
            try ClassSet(labels: ["Bag", "Sneaker"], prompts: [prompts["Bag"]!, templates.map { $0.replacingOccurrences(of: "{}", with: "Sneaker") }]))
        let worst = zip(mixed.storage, expected.storage).map { abs($0 - $1) }.max() ?? 1
        #expect(mixed.rows == 2 && worst <= 1e-6, "largest difference \(worst)")
        // Without templates, the model's own ensemble describes it.
        let byDefault = try await backend.classEmbeddings(labels: ["Bag", "Sneaker"], prompts: prompts, templates: nil)
        let zeroShot = try await backend.classEmbeddings(labels: ["Sneaker"], prompts: nil, templates: nil)
        let row = Array(byDefault.storage[byDefault.cols...])
        #expect(zip(row, zeroShot.storage).map { abs($0 - $1) }.max() ?? 1 <= 1e-6)
    }

    @Test("an image batch queued during a large class set waits for one part, not for the whole set")
    func imagesInterleaveWithText() async throws {
        let backend = try Self.backend()
        let labels = (0..<400).map { "class \($0)" }
        let templates = (0..<16).map { "a photo number \($0) of a {}." }
        let image = RGBImage(width: backend.preprocessor.cropSize, height: backend.preprocessor.cropSize,
                             pixels: [UInt8](repeating: 90, count: backend.preprocessor.cropSize * backend.preprocessor.cropSize * 3))
        let start = ContinuousClock.now
        async let text = backend.classEmbeddings(labels: labels, prompts: nil, templates: templates)
        try await Task.sleep(for: .milliseconds(100))
        let imageStart = ContinuousClock.now
        _ = try await backend.embedPreprocessed([image])
        let imageTime = ContinuousClock.now - imageStart
        _ = try await text
        let textTime = ContinuousClock.now - start
        try #require(textTime > .milliseconds(600), "the class set must take long enough to measure (\(textTime))")
        #expect(imageTime < textTime / 4, "the image took \(imageTime) while the class set took \(textTime)")
    }
}
