import Foundation
import RadaNumerics

/// A frozen CLIP model: immutable weights, safe to share between tasks.
public final class CLIPModel: Sendable {
    /// Architecture, numerics and preprocessing, as read from the checkpoint.
    public let config: CLIPConfig
    let vision: VisionTower
    let text: TextTower

    init(config: CLIPConfig, vision: VisionTower, text: TextTower) {
        self.config = config
        self.vision = vision
        self.text = text
    }

    /// Width of the joint embedding space.
    public var embeddingDimension: Int { config.embedDim }
    /// The logit temperature `exp(logit_scale)` from the checkpoint.
    public var logitScale: Float { config.logitScale }

    /// Embeds images. `pixels` holds `count` images of channels × imageSize × imageSize (CHW),
    /// already normalised with `config.imageMean`/`imageStd`. Returns count × D, rows L2-normalised.
    /// `profile`, when given, collects the time of each stage of the pass.
    public func embedImages(pixels: [Float], count: Int, profile: TowerProfile? = nil) -> Matrix {
        let perImage = config.channels * config.imageSize * config.imageSize
        precondition(count >= 0 && pixels.count == count * perImage,
                     "embedImages: \(pixels.count) values for \(count) images of \(perImage)")
        if count == 0 { return Matrix(rows: 0, cols: embeddingDimension) }
        return Subnormals.flushed { pixels.withUnsafeBufferPointer { vision.embed(pixels: $0.baseAddress!, count: count, profile: profile) } }
    }

    /// Embeds texts given as token ids (with SOT and EOT, unpadded, 1...contextLength tokens each,
    /// every id below vocabSize; see `validate(tokenIds:)`). Returns count × D, rows L2-normalised.
    public func embedTexts(_ tokenIds: [[Int]]) -> Matrix {
        if let problem = problem(in: tokenIds) { preconditionFailure("embedTexts: \(problem)") }
        if tokenIds.isEmpty { return Matrix(rows: 0, cols: embeddingDimension) }
        return Subnormals.flushed { text.embed(tokenIds) }
    }

    /// Throws when `embedTexts` would reject `tokenIds`, so callers can answer bad input politely.
    public func validate(tokenIds: [[Int]]) throws {
        if let problem = problem(in: tokenIds) { throw CLIPInputError.invalidTokens(problem) }
    }

    private func problem(in tokenIds: [[Int]]) -> String? {
        for (index, ids) in tokenIds.enumerated() {
            if ids.isEmpty || ids.count > config.contextLength {
                return "text \(index) has \(ids.count) tokens; the model takes 1...\(config.contextLength)"
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
                return "text \(index) has token id \(bad), outside 0..<\(config.vocabSize)"
            }
        }
        return nil
    }
}

/// Input a model cannot embed.
public enum CLIPInputError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidTokens(String)

    public var description: String {
        switch self {
        case .invalidTokens(let why): "invalid token ids: \(why)"
        }
    }
}
