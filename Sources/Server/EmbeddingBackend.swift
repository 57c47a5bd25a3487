import CLIP
import RadaNumerics

/// The frozen backbone the server classifies with: image embeddings and prompt-ensembled class
/// embeddings in one space of dimension `embeddingDimension`, compared with scale `logitScale`.
public protocol EmbeddingBackend: Sendable {
    var embeddingDimension: Int { get }
    var logitScale: Float { get }
    /// B×D image embeddings, rows L2-normalised, in the order of `images`.
    func embedImages(_ images: [RGBImage]) async throws -> Matrix
    /// K×D class embeddings, rows L2-normalised. For each label the prompts are `prompts[label]`
    /// when given, otherwise `templates` (each with one `{}`) filled with the label, otherwise
    /// the backend's default templates; the prompt embeddings are averaged and re-normalised.
    func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix
}

extension EmbeddingBackend {
    /// Runs both towers once so that the first client request does not pay for lazy set-up.
    public func warmUp() async throws {
        let gray = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 128, count: 8 * 8 * 3))
        _ = try await embedImages([gray])
        _ = try await classEmbeddings(labels: ["a photo"], prompts: nil, templates: nil)
    }
}
