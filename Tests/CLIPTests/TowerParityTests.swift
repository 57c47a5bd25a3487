import Foundation
import RadaNumerics
import Testing

@testable import CLIP

/// Full-size parity against transformers, run by `make parity` (tools/parity.sh) on directories
/// written by tools/make_reference.py. Skipped unless RADA_PARITY_DIR names such a directory.
@Suite("Parity with transformers on full-size checkpoints",
       .serialized, .enabled(if: ProcessInfo.processInfo.environment["RADA_PARITY_DIR"] != nil))
struct TowerParityTests {
    /// `RADA_PRECISION=bf16` (or `auto`) runs the same check in bf16, with bf16's tolerance;
    /// without it, the fp32 reference arithmetic.
    static let precision: TowerPrecision = {
        guard let name = ProcessInfo.processInfo.environment["RADA_PRECISION"], !name.isEmpty else { return .float32 }
        return (try? TowerPrecision.choose(name).precision) ?? .float32
    }()
    static var minCosine: Float { precision == .float32 ? 0.99999 : 0.9999 }

    static var root: URL { URL(fileURLWithPath: ProcessInfo.processInfo.environment["RADA_PARITY_DIR"] ?? "/nonexistent") }

    /// Every checkpoint directory under the root that carries a reference.
    static func checkpoints() throws -> [URL] {
        let children = try FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)
        return children.filter {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("reference/index.json").path)
        }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test("every checkpoint matches its reference with cosine ≥ 0.99999")
    func parity() throws {
        let directories = try Self.checkpoints()
        #expect(!directories.isEmpty, "no checkpoint with reference/index.json under \(Self.root.path)")
        for directory in directories {
            let clock = ContinuousClock()
            var model: CLIPModel?
            let load = try clock.measure { model = try CLIPModel.load(from: directory, precision: Self.precision) }
            let reference = try ReferenceOutputs(directory: directory)
            var images = Matrix(rows: 0, cols: 0)
            var texts = Matrix(rows: 0, cols: 0)
            let imageTime = clock.measure { images = model!.embedImages(pixels: reference.pixels, count: reference.images) }
            let textTime = clock.measure { texts = model!.embedTexts(reference.texts) }
            let image = agreement(images, reference.imageEmbeddings)
            let text = agreement(texts, reference.textEmbeddings)
            print("PARITY \(Self.precision) \(directory.lastPathComponent) [\(model!.config.layout.rawValue)]: "
                  + "images min cos \(image.minCosine) max|Δ| \(image.maxAbsDiff); "
                  + "texts min cos \(text.minCosine) max|Δ| \(text.maxAbsDiff); "
                  + "load \(load), \(reference.images) images \(imageTime), \(reference.texts.count) texts \(textTime)")
            #expect(image.minCosine >= Self.minCosine, "\(directory.lastPathComponent) images")
            #expect(text.minCosine >= Self.minCosine, "\(directory.lastPathComponent) texts")
        }
    }

    @Test("concurrent calls on one full-size model give the serial results")
    func concurrentUse() async throws {
        guard let directory = try Self.checkpoints().first(where: { $0.lastPathComponent == "b32-hf" }) else { return }
        let model = try CLIPModel.load(from: directory)
        let reference = try ReferenceOutputs(directory: directory)
        let serial = model.embedImages(pixels: reference.pixels, count: reference.images)
        let results = await withTaskGroup(of: Matrix.self) { group in
            for _ in 0..<4 { group.addTask { model.embedImages(pixels: reference.pixels, count: reference.images) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let worst = results.map { agreement($0, serial).maxAbsDiff }.max() ?? 0
        print("CONCURRENT b32: 4 tasks × \(reference.images) images, max |Δ| from serial \(worst)")
        #expect(worst <= 1e-6)
    }

    @Test("image embedding speed at batch 1 and 8 (ViT-B/32, Hugging Face layout)")
    func imageSpeed() throws {
        guard let directory = try Self.checkpoints().first(where: { $0.lastPathComponent == "b32-hf" }) else { return }
        let model = try CLIPModel.load(from: directory)
        let perImage = model.config.channels * model.config.imageSize * model.config.imageSize
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let pixels = (0..<(8 * perImage)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
        _ = model.embedImages(pixels: Array(pixels.prefix(perImage)), count: 1)  // warm up BLAS threads
        let clock = ContinuousClock()
        let defaultThreads = BLAS.info.threads
        for (threads, batch) in [(defaultThreads, 1), (defaultThreads, 8), (1, 1), (1, 8)] {
            let input = Array(pixels.prefix(batch * perImage))
            let repeats = batch == 1 ? 8 : 3
            let times = BLAS.withThreads(threads) {
                (0..<repeats).map { _ in clock.measure { _ = model.embedImages(pixels: input, count: batch) } }
            }
            let best = times.min()!
            let ms = Double(best.components.seconds) * 1000 + Double(best.components.attoseconds) / 1e15
            print("SPEED b32 batch \(batch): best of \(repeats) \(String(format: "%.1f", ms)) ms = "
                  + "\(String(format: "%.1f", ms / Double(batch))) ms/image, BLAS \(BLAS.info.coreName) × \(threads) threads")
        }
    }
}
