import CLIP
import RadaNumerics

/// A test-time adaptation method as the benchmark runs it: it sees each batch of frozen image
/// features once, returns its logits for the batch (predicted BEFORE it adapts on the batch:
/// online accuracy), then adapts. `reset()` returns it to its initial state (per-domain protocol).
public protocol TTAMethod: Sendable {
    /// The name in reports ("zero-shot", "tda", "rada", "oracle"...).
    var name: String { get }
    /// Logits (B×K) for `features` (B×D, L2-normalised rows). `labels` are the true classes:
    /// only an oracle may read them; every other method must ignore them.
    mutating func process(features: Matrix, labels: [Int]) throws -> Matrix
    mutating func reset()
    /// Named numbers describing the method's adaptation state now (the long protocol reports
    /// their mean per round); empty for methods without such state.
    var stateSummary: [(name: String, value: Double)] { get }
}

extension TTAMethod {
    public var stateSummary: [(name: String, value: Double)] { [] }
}

/// Frozen CLIP: logits s·f·tᵀ, no adaptation.
public struct ZeroShotMethod: TTAMethod {
    public let name: String
    /// Class embeddings, K×D, L2-normalised rows.
    public let textEmbeddings: Matrix
    /// s = exp(logit_scale) (100 for OpenAI CLIP).
    public let logitScale: Float

    public init(textEmbeddings: Matrix, logitScale: Float, name: String = "zero-shot") {
        self.name = name
        self.textEmbeddings = textEmbeddings
        self.logitScale = logitScale
    }

    public func process(features: Matrix, labels: [Int]) throws -> Matrix {
        try Self.logits(features, textEmbeddings, logitScale)
    }

    public func reset() {}

    /// s·f·tᵀ through BLAS, after checking that the feature width matches.
    static func logits(_ features: Matrix, _ text: Matrix, _ scale: Float) throws(MethodError) -> Matrix {
        guard features.cols == text.cols else {
            throw .shape("features have \(features.cols) dimensions, class embeddings \(text.cols)")
        }
        return ZeroShot.logits(images: features, classes: text, logitScale: scale)
    }
}

/// Why a method could not process a batch.
public enum MethodError: Error, CustomStringConvertible, Equatable, Sendable {
    case shape(String)
    case invalidHyperparameter(String)

    public var description: String {
        switch self {
        case .shape(let reason): return "method input has the wrong shape: \(reason)"
        case .invalidHyperparameter(let reason): return "invalid hyper-parameter: \(reason)"
        }
    }
}
