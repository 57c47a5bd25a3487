import Foundation
import RadaNumerics
import Testing

@testable import CLIP

/// The towers' fp32 products on OpenBLAS and on each packed microkernel this machine runs: the
/// same embeddings (only the summation order differs), the packed path holding each weight
/// once, and the choice `auto` makes.
@Suite("fp32 kernels")
struct FP32KernelTests {
    /// Stated tolerance between two fp32 kernels (measured on the fixtures: ≤ 2.1e-7).
    static let maxAbsDiff: Float = 5e-6
    static let minCosine: Float = 0.999999

    @Test("packed AVX-512F embeddings equal OpenBLAS's", .enabled(if: PackedMatrix.Kernel.avx512.isAvailable, "this CPU has no AVX-512F"),
          arguments: ["tiny-clip", "tiny-openclip"])
    func avx512EqualsOpenBLAS(fixture: String) throws { try equalsOpenBLAS(fixture: fixture, kernel: .avx512) }

    @Test("packed AVX2+FMA embeddings equal OpenBLAS's", .enabled(if: PackedMatrix.Kernel.avx2.isAvailable, "this CPU has no AVX2 with FMA"),
          arguments: ["tiny-clip", "tiny-openclip"])
    func avx2EqualsOpenBLAS(fixture: String) throws { try equalsOpenBLAS(fixture: fixture, kernel: .avx2) }

    @Test("packed portable embeddings equal OpenBLAS's", arguments: ["tiny-clip", "tiny-openclip"])
    func portableEqualsOpenBLAS(fixture: String) throws { try equalsOpenBLAS(fixture: fixture, kernel: .portable) }

    func equalsOpenBLAS(fixture: String, kernel: PackedMatrix.Kernel) throws {
        let directory = Fixtures.url(fixture)
        let reference = try ReferenceOutputs(directory: directory)
        let blas = try CLIPModel.load(from: directory, precision: .float32, fp32: .openBLAS)
        let packed = try CLIPModel.load(from: directory, precision: .float32, fp32: .packed(kernel))
        for threads in [1, 2] {
            let (images, texts) = BLAS.withThreads(threads) {
                (agreement(
                    packed.embedImages(pixels: reference.pixels, count: reference.images),
                    blas.embedImages(pixels: reference.pixels, count: reference.images)),
                 agreement(packed.embedTexts(reference.texts), blas.embedTexts(reference.texts)))
            }
            print("\(fixture) packed \(kernel) vs OpenBLAS, \(threads) threads: image cos ≥ \(images.minCosine) max|Δ| \(images.maxAbsDiff); text cos ≥ \(texts.minCosine) max|Δ| \(texts.maxAbsDiff)")
            #expect(images.maxAbsDiff <= Self.maxAbsDiff && texts.maxAbsDiff <= Self.maxAbsDiff)
            #expect(images.minCosine >= Self.minCosine && texts.minCosine >= Self.minCosine)
        }
        // And both against the float64 reference, at the fp32 tolerance of TowerFixtureTests.
        let images = agreement(packed.embedImages(pixels: reference.pixels, count: reference.images), reference.imageEmbeddings)
        #expect(images.maxAbsDiff <= TowerFixtureTests.maxAbsDiff)
        #expect(images.minCosine >= TowerFixtureTests.minCosine)
    }

    @Test("the packed path holds each projection once, packed; OpenBLAS's holds it unpacked")
    func weightsHeldOnce() throws {
        let directory = Fixtures.url("tiny-clip")
        let packed = try CLIPModel.load(from: directory, precision: .float32, fp32: .packed(.portable))
        let blas = try CLIPModel.load(from: directory, precision: .float32, fp32: .openBLAS)
        let packedLayers = packed.vision.transformer.layers + packed.text.transformer.layers
        let projections = packedLayers.flatMap { [$0.qkv, $0.out, $0.fc1, $0.fc2] } + [packed.vision.patchEmbedding]
        #expect(projections.count == 4 * packedLayers.count + 1)
        for projection in projections {
            #expect(projection.weight.isEmpty)
            #expect(projection.packed?.kernel == .portable)
            #expect(projection.bf16 == nil)
        }
        let blasLayers = blas.vision.transformer.layers + blas.text.transformer.layers
        for projection in blasLayers.flatMap({ [$0.qkv, $0.out, $0.fc1, $0.fc2] }) {
            #expect(projection.packed == nil)
            #expect(!projection.weight.isEmpty)
        }
    }

    @Test func choosesByName() throws {
        #expect(try FP32Kernel.choose("auto", fastest: .avx512).kernel == .packed(.avx512))
        #expect(try FP32Kernel.choose("auto", fastest: .avx2).kernel == .packed(.avx2))
        #expect(try FP32Kernel.choose("auto", fastest: .portable).kernel == .openBLAS)
        #expect(try FP32Kernel.choose("auto", fastest: .portable).reason.contains("neither AVX-512F nor AVX2+FMA"))
        #expect(try FP32Kernel.choose("packed", fastest: .portable).kernel == .packed(.portable))
        #expect(try FP32Kernel.choose("openblas", fastest: .avx512).kernel == .openBLAS)
        #expect(throws: CheckpointError.unsupportedFP32Kernel("mkl")) { try FP32Kernel.choose("mkl") }
        #expect("\(CheckpointError.unsupportedFP32Kernel("mkl"))".contains("auto, packed or openblas"))
        #expect("\(FP32Kernel.packed(.avx512))" == "packed AVX-512F")
    }

    @Test("a packed kernel this CPU lacks is refused at load with an error that says why",
          .enabled(if: PackedMatrix.Kernel.allCases.contains { !$0.isAvailable }, "this CPU runs every fp32 kernel"))
    func refusedWithoutTheKernel() throws {
        let missing = try #require(PackedMatrix.Kernel.allCases.first { !$0.isAvailable })
        #expect(throws: CheckpointError.fp32KernelUnavailable("\(missing)")) {
            try CLIPModel.load(from: Fixtures.url("tiny-clip"), precision: .float32, fp32: .packed(missing))
        }
    }
}
