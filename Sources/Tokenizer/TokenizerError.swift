/// Why a `CLIPTokenizer` could not be built from its vocabulary and merges.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The vocabulary or merges file does not exist.
    case fileNotFound(path: String)
    /// The file exists but could not be read (permissions, a directory, I/O error).
    case unreadableFile(path: String, reason: String)
    /// vocab.json is not a JSON object of token strings to non-negative integer ids.
    case malformedVocab(path: String, line: Int, reason: String)
    /// A merges.txt line is not two tokens separated by one space.
    case malformedMerges(path: String, line: Int, content: String)
    /// A merge names a token, or makes a token, that the vocabulary lacks.
    case mergeTokenNotInVocab(path: String, line: Int, token: String)
    /// The vocabulary lacks `<|startoftext|>` or `<|endoftext|>`.
    case missingSpecialToken(String)
    /// The vocabulary lacks one of the 512 byte symbols (with and without `</w>`) BPE starts from.
    case missingByteSymbol(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "tokenizer file not found: \(path) (expected Hugging Face vocab.json / merges.txt; "
                + "`make vocab` writes CLIP's)"
        case .unreadableFile(let path, let reason):
            return "cannot read tokenizer file \(path): \(reason)"
        case .malformedVocab(let path, let line, let reason):
            return "\(path):\(line): malformed vocabulary JSON: \(reason) "
                + "(expected one object of \"token\": id pairs)"
        case .malformedMerges(let path, let line, let content):
            return "\(path):\(line): malformed merge \"\(content)\" (expected two tokens separated by one space)"
        case .mergeTokenNotInVocab(let path, let line, let token):
            return "\(path):\(line): merge uses token \"\(token)\" that is not in the vocabulary "
                + "(vocab.json and merges.txt must come from the same tokenizer)"
        case .missingSpecialToken(let token):
            return "vocabulary has no special token \(token) (CLIP's is id 49406 / 49407)"
        case .missingByteSymbol(let symbol):
            return "vocabulary has no byte symbol \"\(symbol)\": it is not a byte-level BPE vocabulary"
        }
    }
}
