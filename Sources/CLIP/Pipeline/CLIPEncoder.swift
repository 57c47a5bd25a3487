import Foundation
import RadaNumerics
import Imaging
import Tokenizer

/// A CLIP checkpoint ready to embed raw inputs: the towers, the tokenizer and the image
/// preprocessing, all read from one directory (Hugging Face or OpenCLIP layout).
public final class CLIPEncoder: Sendable {
    public let directory: URL
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    public let preprocessor: ImagePreprocessor
    /// The model's own prompt configuration (`prompts.json`), when it ships one.
    public let prompts: PromptConfiguration?
    /// Images per forward pass: bounds the towers' workspace whatever the caller sends.
    public let maxBatch: Int

    public init(directory: URL, model: CLIPModel, tokenizer: CLIPTokenizer, preprocessor: ImagePreprocessor,
                prompts: PromptConfiguration?, maxBatch: Int = 32) {
        self.directory = directory
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessor = preprocessor
        self.prompts = prompts
        self.maxBatch = max(1, maxBatch)
    }

    /// Loads everything from `directory`. The tokenizer files come from the directory, or, for
    /// checkpoints that do not ship them (OpenCLIP's), from the embedded model's copy of CLIP's
    /// vocabulary; preprocessing from `preprocessor_config.json` when present, else from the
    /// checkpoint's config (image size, mean and std).
    public static func load(
        from directory: URL, maxBatch: Int = 32, precision: TowerPrecision = .float32
    ) throws -> CLIPEncoder {
        let model = try CLIPModel.load(from: directory, precision: precision)
        let tokenizer = try loadTokenizer(near: directory)
        let preprocessorURL = directory.appendingPathComponent("preprocessor_config.json")
        let preprocessor: ImagePreprocessor
        if model.config.layout == .huggingFace, FileManager.default.fileExists(atPath: preprocessorURL.path) {
            do {
                preprocessor = try ImagePreprocessor(huggingFaceConfig: Data(contentsOf: preprocessorURL))
            } catch {
                throw EncoderError.invalidPreprocessor(path: preprocessorURL.path, reason: "\(error)")
            }
        } else {
            preprocessor = ImagePreprocessor(
                resizeShortestEdge: model.config.imageSize, cropSize: model.config.imageSize,
                mean: model.config.imageMean, std: model.config.imageStd)
        }
        guard preprocessor.cropSize == model.config.imageSize else {
            throw EncoderError.invalidPreprocessor(
                path: preprocessorURL.path,
                reason: "crop size \(preprocessor.cropSize) differs from the model's image size \(model.config.imageSize)")
        }
        let prompts = try PromptConfiguration.load(from: directory.appendingPathComponent("prompts.json"))
        return CLIPEncoder(directory: directory, model: model, tokenizer: tokenizer, preprocessor: preprocessor,
                           prompts: prompts, maxBatch: maxBatch)
    }

    static func loadTokenizer(near directory: URL) throws -> CLIPTokenizer {
        var candidates = [directory]
        if let embedded = try? ModelLocator.defaultModelDirectory() { candidates.append(embedded) }
        for candidate in candidates {
            let vocab = candidate.appendingPathComponent("vocab.json")
            let merges = candidate.appendingPathComponent("merges.txt")
            if FileManager.default.fileExists(atPath: vocab.path), FileManager.default.fileExists(atPath: merges.path) {
                return try CLIPTokenizer(vocabURL: vocab, mergesURL: merges)
            }
        }
        throw EncoderError.noTokenizer(directory: directory.path)
    }

    public var embeddingDimension: Int { model.embeddingDimension }
    public var logitScale: Float { model.logitScale }

    /// L2-normalised image embeddings, one row per image, computed `maxBatch` images at a time.
    public func embed(images: [RGBImage]) -> Matrix {
        embed(preprocessed: images.map(preprocessor.resizedAndCropped))
    }

    /// Embeddings of images that are already the model's input (`preprocessor.prepare`'s
    /// output): the tower pass only, so that resizing can happen elsewhere (the server does it
    /// before images reach its one backbone queue).
    public func embed(preprocessed images: [RGBImage]) -> Matrix {
        var out = Matrix(rows: images.count, cols: embeddingDimension)
        var start = 0
        while start < images.count {
            let end = min(images.count, start + maxBatch)
            let pixels = preprocessor.pixelValues(preprocessed: Array(images[start..<end]))
            let chunk = model.embedImages(pixels: pixels, count: end - start)
            out.storage.replaceSubrange((start * out.cols)..<(end * out.cols), with: chunk.storage)
            start = end
        }
        return out
    }

    /// L2-normalised text embeddings, one row per text. Throws when the tokenizer produces ids
    /// the checkpoint's text tower cannot embed (a tokenizer that does not fit the model).
    public func embed(texts: [String]) throws -> Matrix {
        guard !texts.isEmpty else { return Matrix(rows: 0, cols: embeddingDimension) }
        let ids = texts.map { tokenizer.encode($0, contextLength: model.config.contextLength) }
        try model.validate(tokenIds: ids)
        var out = Matrix(rows: texts.count, cols: embeddingDimension)
        var start = 0
        while start < ids.count {
            let end = min(ids.count, start + 4 * maxBatch)
            let chunk = model.embedTexts(Array(ids[start..<end]))
            out.storage.replaceSubrange((start * out.cols)..<(end * out.cols), with: chunk.storage)
            start = end
        }
        return out
    }

    /// One embedding per class: the mean of its prompts' normalised embeddings, renormalised.
    public func classEmbeddings(_ classes: ClassSet) throws -> Matrix {
        let flat = classes.prompts.flatMap { $0 }
        let all = try embed(texts: flat)
        var out = Matrix(rows: classes.labels.count, cols: embeddingDimension)
        var row = 0
        for (k, texts) in classes.prompts.enumerated() {
            for _ in texts {
                for j in 0..<out.cols { out[k, j] += all[row, j] }
                row += 1
            }
        }
        out.normalizeRows()
        return out
    }

    /// The templates to use when the caller gives none: the model's own ensemble, else CLIP's
    /// plain "a photo of a {}.".
    public var defaultTemplates: [String] { prompts?.templates ?? ["a photo of a {}."] }
}
