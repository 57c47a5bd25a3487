import Foundation
import RadaNumerics
import Testing

@testable import CLIP

/// The opt-in bf16 precision: the same embeddings within bf16's rounding, really computed in
/// bf16 (not silently fp32), and a clear error where the CPU cannot run it.
@Suite("Tower precision")
struct TowerPrecisionTests {
    /// Stated tolerance of bf16 mode on the tiny fixture (2 layers, width 64): measured ≥ 0.99999 (images and texts).
    static let minCosine: Float = 0.999

    @Test("bf16 embeddings agree with the float64 reference to the stated cosine", .enabled(if: BF16PackedMatrix.isAvailable),
          arguments: ["tiny-clip", "tiny-openclip"])
    func bf16AgreesWithReference(fixture: String) throws {
        let directory = Fixtures.url(fixture)
        let model = try CLIPModel.load(from: directory, precision: .bfloat16)
        let reference = try ReferenceOutputs(directory: directory)
        let images = agreement(model.embedImages(pixels: reference.pixels, count: reference.images), reference.imageEmbeddings)
        let texts = agreement(model.embedTexts(reference.texts), reference.textEmbeddings)
        print("\(fixture) bf16: image cos ≥ \(images.minCosine) max|Δ| \(images.maxAbsDiff); text cos ≥ \(texts.minCosine) max|Δ| \(texts.maxAbsDiff)")
        #expect(images.minCosine >= Self.minCosine)
        #expect(texts.minCosine >= Self.minCosine)
        // Rounding is visible: far beyond fp32's 1e-5 tolerance, so this is not the fp32 path.
        #expect(images.maxAbsDiff > 1e-4)
    }

    @Test func parsesTheEnvironmentNames() throws {
        #expect(TowerPrecision(rawValue: "fp32") == .float32)
        #expect(TowerPrecision(rawValue: "bf16") == .bfloat16)
        #expect(TowerPrecision(rawValue: "fp16") == nil)
        #expect("\(CheckpointError.unsupportedPrecision("fp16"))".contains("fp32 or bf16"))
    }

    @Test("without AMX, bf16 is refused with an error that says why", .enabled(if: !BF16PackedMatrix.isAvailable))
    func refusedWithoutAMX() {
        #expect(throws: CheckpointError.precisionUnavailable("bf16")) {
            try CLIPModel.load(from: Fixtures.url("tiny-clip"), precision: .bfloat16)
        }
    }
}
