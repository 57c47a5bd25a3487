import CLIP
import RadaNumerics
import Imaging

/// The frozen backbone the server classifies with: image embeddings and prompt-ensembled class
/// embeddings in one space of dimension `embeddingDimension`, compared with scale `logitScale`.
///
/// Images reach the backbone already preprocessed: the server decodes and resizes them with
/// `preprocessor` on its own bounded image workers (under the decode-memory budget), so the
/// backbone only ever sees fixed-size `cropSize` x `cropSize` model inputs.
public protocol EmbeddingBackend: Sendable {
    var embeddingDimension: Int { get }
    var logitScale: Float { get }
    /// How a decoded image becomes this backbone's input (resize, centre crop).
    var preprocessor: ImagePreprocessor { get }
    /// B×D image embeddings, rows L2-normalised, in the order of `images`, which are
    /// `preprocessor.prepare` outputs (`cropSize` x `cropSize`).
    func embedPreprocessed(_ images: [RGBImage]) async throws -> Matrix
    /// K×D class embeddings, rows L2-normalised. For each label the prompts are `prompts[label]`
    /// when given, otherwise `templates` (each with one `{}`) filled with the label, otherwise
    /// the backend's default templates; the prompt embeddings are averaged and re-normalised.
    func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix
}

extension EmbeddingBackend {
    /// B×D embeddings of decoded images of any size: preprocessed here, in the caller, then
    /// embedded. For tools and tests; the server prepares images on its image workers instead.
    public func embedImages(_ images: [RGBImage]) async throws -> Matrix {
        try await embedPreprocessed(images.map(preprocessor.resizedAndCropped))
    }

    /// Runs both towers once so that the first client request does not pay for lazy set-up.
    public func warmUp() async throws {
        let gray = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 128, count: 8 * 8 * 3))
        _ = try await embedImages([gray])
        _ = try await classEmbeddings(labels: ["a photo"], prompts: nil, templates: nil)
    }
}
