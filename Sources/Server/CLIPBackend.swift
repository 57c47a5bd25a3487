import CLIP
import Dispatch
import Foundation
import RadaNumerics
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

    public init(encoder: CLIPEncoder) { self.encoder = encoder }

    public var embeddingDimension: Int { encoder.embeddingDimension }
    public var logitScale: Float { encoder.logitScale }

    public var preprocessor: ImagePreprocessor { encoder.preprocessor }

    public func embedPreprocessed(_ images: [RGBImage]) async throws -> Matrix {
        try await run { $0.embed(preprocessed: images) }
    }

    /// Prompts encoded per job on the backbone queue: a class set is encoded a few labels at a
    /// time, each part its own job, so image batches queued meanwhile run between the parts and
    /// a 64,000-prompt class set delays them by one part, not by all of it.
    public static let promptsPerJob = 16

    public func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix {
        // A label without prompts of its own is described by the templates.
        let templated = try ClassSet.templated(labels: labels, templates: templates ?? encoder.defaultTemplates)
        let classes = try ClassSet(labels: labels, prompts: zip(labels, templated.prompts).map { prompts?[$0] ?? $1 })
        // Each class's embedding depends on its own prompts only, so parts are exact.
        var out = Matrix(rows: classes.labels.count, cols: embeddingDimension)
        var start = 0
        while start < classes.labels.count {
            var end = start + 1, count = classes.prompts[start].count
            while end < classes.labels.count, count + classes.prompts[end].count <= Self.promptsPerJob {
                count += classes.prompts[end].count
                end += 1
            }
            let part = try ClassSet(labels: Array(classes.labels[start..<end]), prompts: Array(classes.prompts[start..<end]))
            let rows = try await run { try $0.classEmbeddings(part) }
            out.storage.replaceSubrange((start * out.cols)..<(end * out.cols), with: rows.storage)
            start = end
        }
        return out
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable (CLIPEncoder) throws -> T) async throws -> T {
        let encoder = self.encoder
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work(encoder) }) }
        }
    }
}
