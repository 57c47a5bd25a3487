import Foundation
import RadaNumerics
import Testing

@testable import CLIP

/// bf16 and fp16 precision, which `auto` picks where the CPU has a fast kernel for them: the same
/// embeddings within the stated cosine on every kernel the machine runs, really computed in 16 bits
/// (not silently fp32), and a clear error where the CPU cannot run it.
@Suite("Tower precision")
struct TowerPrecisionTests {
    /// The bound `auto` promises (measured on the tiny fixtures, 2 layers of width 64: ≥ 0.99999).
    static let minCosine: Float = 0.9999

    @Test("AMX-BF16 embeddings agree with the float64 reference to the stated cosine",
          .enabled(if: BF16PackedMatrix.Kernel.amx.isAvailable, "this CPU (or its OS kernel) has no AMX-BF16"),
          arguments: ["tiny-clip", "tiny-openclip"])
    func amxAgreesWithReference(fixture: String) throws {
        try agreesWithReference(fixture: fixture, kernel: .amx)
    }

    @Test("AVX512-BF16 embeddings agree with the float64 reference to the stated cosine",
          .enabled(if: BF16PackedMatrix.Kernel.avx512.isAvailable, "this CPU has no AVX512-BF16"),
          arguments: ["tiny-clip", "tiny-openclip"])
    func avx512AgreesWithReference(fixture: String) throws {
        try agreesWithReference(fixture: fixture, kernel: .avx512)
    }

    @Test("AVX512-FP16 embeddings agree with the float64 reference to the stated cosine",
          .enabled(if: FP16PackedMatrix.isAvailable, "this CPU has no AVX512-FP16"),
          arguments: ["tiny-clip", "tiny-openclip"])
    func avx512FP16AgreesWithReference(fixture: String) throws {
        try agreesWithReference(fixture: fixture, precision: .float16)
    }

    func agreesWithReference(fixture: String, kernel: BF16PackedMatrix.Kernel) throws {
        try agreesWithReference(fixture: fixture, precision: .bfloat16(kernel))
    }

    func agreesWithReference(fixture: String, precision: TowerPrecision) throws {
        let directory = Fixtures.url(fixture)
        let model = try CLIPModel.load(from: directory, precision: precision)
        let reference = try ReferenceOutputs(directory: directory)
        let images = agreement(model.embedImages(pixels: reference.pixels, count: reference.images), reference.imageEmbeddings)
        let texts = agreement(model.embedTexts(reference.texts), reference.textEmbeddings)
        print("\(fixture) \(precision): image cos ≥ \(images.minCosine) max|Δ| \(images.maxAbsDiff); text cos ≥ \(texts.minCosine) max|Δ| \(texts.maxAbsDiff)")
        #expect(images.minCosine >= Self.minCosine)
        #expect(texts.minCosine >= Self.minCosine)
        // Rounding is visible: far beyond fp32's 1e-5 tolerance, so this is not the fp32 path.
        #expect(images.maxAbsDiff > 1e-4)
    }

    /// The heads follow the projections into bf16 where that is faster: on AMX-BF16 always, on
    /// AVX512-BF16 on AMD cores only.
    @Test func attentionHeadKernelFollowsThePrecision() {
        #expect(TowerPrecision.bfloat16(.amx).attentionHeadBF16Kernel(vendor: .intel) == .amx)
        #expect(TowerPrecision.bfloat16(.amx).attentionHeadBF16Kernel(vendor: .other) == .amx)
        #expect(TowerPrecision.bfloat16(.avx512).attentionHeadBF16Kernel(vendor: .amd) == .avx512)
        #expect(TowerPrecision.bfloat16(.avx512).attentionHeadBF16Kernel(vendor: .intel) == nil)
        #expect(TowerPrecision.float32.attentionHeadBF16Kernel(vendor: .amd) == nil)
        #expect(TowerPrecision.float16.attentionHeadBF16Kernel(vendor: .intel) == nil)
    }

    @Test func parsesTheNames() throws {
        #expect(try TowerPrecision.choose("fp32").precision == .float32)
        #expect(try TowerPrecision.choose("auto", kernel: nil, fp16: false).precision == .float32)
        #expect(try TowerPrecision.choose("auto", kernel: .avx512, vendor: .amd, fp16: false).precision == .bfloat16(.avx512))
        // Where VDPBF16PS is slower than fp32 FMAs (Intel cores), auto keeps fp32 unless the CPU
        // has AVX512-FP16; bf16 still asks for it.
        #expect(try TowerPrecision.choose("auto", kernel: .avx512, vendor: .intel, fp16: false).precision == .float32)
        #expect(try TowerPrecision.choose("auto", kernel: .avx512, vendor: .other, fp16: false).precision == .float32)
        #expect(try TowerPrecision.choose("auto", kernel: .avx512, vendor: .intel, fp16: false).reason.contains("neither usable AMX nor AVX512-FP16"))
        #expect(try TowerPrecision.choose("auto", kernel: .avx512, vendor: .intel, fp16: true).precision == .float16)
        #expect(try TowerPrecision.choose("auto", kernel: .avx512, vendor: .intel, fp16: true).reason.contains("AVX512-FP16"))
        #expect(try TowerPrecision.choose("auto", kernel: nil, vendor: .intel, fp16: true).precision == .float16)
        #expect(try TowerPrecision.choose("bf16", kernel: .avx512, vendor: .intel, fp16: true).precision == .bfloat16(.avx512))
        // AMX beats fp16 (about 3× fp32's rate against 2×), and on AMD bf16 is the fast path.
        #expect(try TowerPrecision.choose("auto", kernel: .amx, vendor: .intel, fp16: true).precision == .bfloat16(.amx))
        #expect(try TowerPrecision.choose("auto", kernel: .avx512, vendor: .amd, fp16: true).precision == .bfloat16(.avx512))
        #expect(try TowerPrecision.choose("bf16", kernel: .amx).precision == .bfloat16(.amx))
        #expect(try TowerPrecision.choose("fp16", fp16: true).precision == .float16)
        #expect(try TowerPrecision.choose("auto", kernel: nil, fp16: false).reason.contains("none of AMX-BF16, AVX512-BF16 and AVX512-FP16"))
        #expect(throws: CheckpointError.unsupportedPrecision("fp8")) { try TowerPrecision.choose("fp8") }
        #expect("\(CheckpointError.unsupportedPrecision("fp8"))".contains("auto, fp32, bf16 or fp16"))
        #expect(throws: CheckpointError.precisionUnavailable("bf16")) { try TowerPrecision.choose("bf16", kernel: nil) }
        #expect(throws: CheckpointError.precisionUnavailable("fp16")) { try TowerPrecision.choose("fp16", fp16: false) }
    }

    /// `auto` is bf16 on the fastest bf16 kernel where that beats fp32 (AMX anywhere,
    /// AVX512-BF16 on AMD cores), else fp16 on AVX512-FP16, else fp32.
    @Test func autoPicksTheFastestKernelHere() throws {
        let choice = try TowerPrecision.choose("auto")
        let fp16: TowerPrecision = FP16PackedMatrix.isAvailable ? .float16 : .float32
        switch BF16PackedMatrix.Kernel.available.first {
        case .amx?: #expect(choice.precision == .bfloat16(.amx))
        case .avx512?: #expect(choice.precision == (CPUModel.vendor == .amd ? .bfloat16(.avx512) : fp16))
        case nil: #expect(choice.precision == fp16)
        }
    }

    @Test("a kernel this CPU lacks is refused with an error that says why",
          .enabled(if: BF16PackedMatrix.Kernel.allCases.contains { !$0.isAvailable }, "this CPU runs every bf16 kernel"))
    func refusedWithoutTheKernel() throws {
        let missing = try #require(BF16PackedMatrix.Kernel.allCases.first { !$0.isAvailable })
        #expect(throws: CheckpointError.precisionUnavailable("bf16 (\(missing))")) {
            try CLIPModel.load(from: Fixtures.url("tiny-clip"), precision: .bfloat16(missing))
        }
    }

    @Test("fp16 is refused where the CPU lacks AVX512-FP16", .enabled(if: !FP16PackedMatrix.isAvailable, "this CPU runs AVX512-FP16"))
    func fp16RefusedWithoutTheKernel() throws {
        #expect(throws: CheckpointError.precisionUnavailable("fp16 (AVX512-FP16)")) {
            try CLIPModel.load(from: Fixtures.url("tiny-clip"), precision: .float16)
        }
    }
}
