import CLIP
import Dispatch
import Foundation
import RadaNumerics
import Synchronization
import Imaging

/// The real backbone: a loaded CLIP checkpoint behind the server's `EmbeddingBackend` seam.
///
/// Tower work runs on one serial queue outside Swift's cooperative pool: it is long, blocking
/// BLAS work that already uses every core it is given, so running two at once would only
/// oversubscribe the CPU, and blocking the cooperative pool would stall request handling.
/// Only fixed-size model inputs reach this queue: decoding and resizing happen before, on the
/// server's image workers (`ImagePipeline`), so one huge upload cannot hold up everyone's towers.
public final class CLIPBackend: EmbeddingBackend {
    public let encoder: CLIPEncoder
    private let queue = DispatchQueue(label: "rada.backbone", qos: .userInitiated)


    public var embeddingDimension: Int { encoder.embeddingDimension }
    public var logitScale: Float { encoder.logitScale }

    public var preprocessor: ImagePreprocessor { encoder.preprocessor }

    public func embedPreprocessed(_ images: [RGBImage]) async throws -> Matrix {
        try await run { $0.embed(preprocessed: images) }
    }

    /// Longest a text job may hold the backbone queue: a class set is encoded a few prompts at a
    /// time, each part its own job sized from the measured cost per prompt, so image batches
    /// queued meanwhile run between the parts and a 64,000-prompt class set delays them by one
    /// part (about this long), not by all of it. Parts cut through classes: a class's prompt
    /// embeddings are summed across parts in prompt order, as the encoder sums them.
    public let maxPartTime: Duration
    private let slice: Mutex<TimeSlice>
    /// Prompts in a part before any has been measured, and the most in any part.
    public static let firstPartPrompts = 16
    public static let maxPartPrompts = 256

    public init(encoder: CLIPEncoder, maxPartTime: Duration = ServerConfiguration.backboneSlice) {
        self.encoder = encoder
        self.maxPartTime = maxPartTime
        slice = Mutex(TimeSlice(length: maxPartTime, firstUnits: Self.firstPartPrompts, maxUnits: Self.maxPartPrompts))
    }

    /// Prompts in the next part: what fits in `maxPartTime` at the measured cost, at least one.
    func partPrompts() -> Int { slice.withLock { $0.units } }

    public func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix {
        // A label without prompts of its own is described by the templates.
        let templated = try ClassSet.templated(labels: labels, templates: templates ?? encoder.defaultTemplates)
        let classes = try ClassSet(labels: labels, prompts: zip(labels, templated.prompts).map { prompts?[$0] ?? $1 })
        let flat = classes.prompts.flatMap { $0 }
        let owner = classes.prompts.enumerated().flatMap { k, list in [Int](repeating: k, count: list.count) }
        var out = Matrix(rows: classes.labels.count, cols: embeddingDimension)
        var start = 0
        while start < flat.count {
            let end = min(flat.count, start + partPrompts())
            let texts = Array(flat[start..<end])
            let clock = ContinuousClock(), began = clock.now
            let rows = try await run { try $0.embed(texts: texts) }
            let elapsed = clock.now - began
            slice.withLock { $0.record(elapsed, units: texts.count) }
            for (i, prompt) in (start..<end).enumerated() {
                for j in 0..<out.cols { out[owner[prompt], j] += rows[i, j] }
            }
            start = end
        }
        out.normalizeRows()
        return out
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable (CLIPEncoder) throws -> T) async throws -> T {
        let encoder = self.encoder
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work(encoder) }) }
        }
    }
}
