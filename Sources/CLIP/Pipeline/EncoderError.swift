/// Why a model directory could not be turned into a `CLIPEncoder` (beyond the checkpoint's own
/// errors, which are `CheckpointError`s).
public enum EncoderError: Error, CustomStringConvertible, Equatable, Sendable {
    case noDefaultModel(searched: [String], hint: String)
    case noTokenizer(directory: String)
    case invalidPreprocessor(path: String, reason: String)
    case invalidPrompts(path: String, reason: String)

    public var description: String {
        switch self {
        case .noDefaultModel(let searched, let hint):
            "the embedded model (models/fashion-clip or share/rada/models/fashion-clip) was not found above \(searched.joined(separator: ", ")); \(hint)"
        case .noTokenizer(let directory):
            "no tokenizer: \(directory) has no vocab.json and merges.txt, and the embedded model's copy was not found"
        case .invalidPreprocessor(let path, let reason): "\(path): \(reason)"
        case .invalidPrompts(let path, let reason): "\(path): \(reason)"
        }
    }
}
