import Foundation

/// CLIP's byte-level BPE tokenizer, giving the same ids as OpenAI's original `simple_tokenizer`
/// (and open_clip's `tokenize`) for the same text.
///
/// Text is cleaned as CLIP cleans it (ftfy's fixes, HTML unescaping, whitespace collapsing,
/// lower-casing), split into words by CLIP's pattern, and each word's UTF-8 bytes are merged by
/// the BPE ranks of merges.txt. Encoding is thread-safe; copies share one word cache.
///
/// The clean-up is a port of ftfy 6.3.1's `fix_text` and of Python's string functions, with
/// tables generated from the reference's versions (see Docs/architecture.md, "Text
/// tokenisation"); a seeded corpus of 3 000 hostile strings gets the reference's ids exactly.
public struct CLIPTokenizer: Sendable {
    static let startToken = "<|startoftext|>"
    static let endToken = "<|endoftext|>"

    /// Id of `<|startoftext|>` (49406 for CLIP).
    public let startOfText: Int
    /// Id of `<|endoftext|>` (49407 for CLIP).
    public let endOfText: Int

    let bpe: BytePairEncoder
    /// Id -> token string, for `decode`.
    let tokens: [Int: String]
    let cache: BPECache

    /// Loads the Hugging Face files (vocab.json and merges.txt) of a CLIP tokenizer.
    public init(vocabURL: URL, mergesURL: URL) throws {
        let vocab = try VocabularyFiles.parseVocab(VocabularyFiles.read(vocabURL), path: vocabURL.path)
        let merges = try VocabularyFiles.parseMerges(VocabularyFiles.read(mergesURL), path: mergesURL.path)
        try self.init(vocab: vocab, merges: merges.map(\.pair), mergeLines: merges.map(\.line), mergesPath: mergesURL.path)
    }

    /// Builds the tokenizer from a token -> id map and the merge pairs in priority order.
    /// Errors about a merge give its 1-based index in `merges` as the line.
    public init(vocab: [String: Int], merges: [(String, String)]) throws {
        try self.init(vocab: vocab, merges: merges, mergeLines: nil, mergesPath: "merges")
    }

    private init(vocab: [String: Int], merges: [(String, String)], mergeLines: [Int]?, mergesPath: String) throws {
        // Ids are packed as Int32 pairs for the merge table.
        if let (token, id) = vocab.first(where: { $0.value < 0 || $0.value > Int(Int32.max) }) {
            throw TokenizerError.malformedVocab(path: "vocabulary", line: 1, reason: "the id \(id) of \"\(token)\" is outside 0...\(Int32.max)")
        }
        guard let start = vocab[Self.startToken] else { throw TokenizerError.missingSpecialToken(Self.startToken) }
        guard let end = vocab[Self.endToken] else { throw TokenizerError.missingSpecialToken(Self.endToken) }
        startOfText = start
        endOfText = end

        var byteIds: [Int32] = []
        var byteEndIds: [Int32] = []
        for byte in 0...UInt8.max {
            let symbol = ByteSymbols.symbol(for: byte)
            guard let id = vocab[symbol] else { throw TokenizerError.missingByteSymbol(symbol) }
            guard let endId = vocab[symbol + "</w>"] else { throw TokenizerError.missingByteSymbol(symbol + "</w>") }
            byteIds.append(Int32(id))
            byteEndIds.append(Int32(endId))
        }

        var ranks: [UInt64: BytePairEncoder.Merge] = [:]
        ranks.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            let merged = left + right
            guard let leftId = vocab[left], let rightId = vocab[right], let mergedId = vocab[merged] else {
                let missing = vocab[left] == nil ? left : vocab[right] == nil ? right : merged
                throw TokenizerError.mergeTokenNotInVocab(path: mergesPath, line: mergeLines?[rank] ?? rank + 1, token: missing)
            }
            // A repeated pair keeps its last rank, as Python's dict(zip(merges, ranks)) does.
            ranks[BytePairEncoder.pairKey(Int32(leftId), Int32(rightId))] = .init(rank: Int32(rank), result: Int32(mergedId))
        }
        bpe = BytePairEncoder(byteIds: byteIds, byteEndIds: byteEndIds, merges: ranks)

        var tokens: [Int: String] = [:]
        tokens.reserveCapacity(vocab.count)
        for (token, id) in vocab { tokens[id] = token }
        self.tokens = tokens
        cache = BPECache()
    }

    /// The ids of `text` between `startOfText` and `endOfText`. Longer than `contextLength`, the
    /// ids are cut to `contextLength` and the last one replaced by `endOfText`, as CLIP does;
    /// shorter, they are not padded. `contextLength` must be at least 1.
    public func encode(_ text: String, contextLength: Int = 77) -> [Int] {
        precondition(contextLength >= 1, "contextLength must be at least 1, got \(contextLength)")
        let scalars = CLIPTextCleaner.clean(text)
        var ids = [startOfText]
        var word: [UInt8] = []
        PreTokenizer.forEachWord(in: scalars) { range, special in
            if let special {
                ids.append(special == 0 ? startOfText : endOfText)
            } else {
                word.removeAll(keepingCapacity: true)
                for scalar in scalars[range] { word.append(contentsOf: UTF8.encode(scalar)!) }
                appendWordIds(word, to: &ids)
            }
            // Later words cannot survive the truncation.
            return ids.count < contextLength
        }
        ids.append(endOfText)
        if ids.count > contextLength {
            ids.removeLast(ids.count - contextLength)
            ids[contextLength - 1] = endOfText
        }
        return ids
    }

    private func appendWordIds(_ word: [UInt8], to ids: inout [Int]) {
        if let cached = cache.ids(for: word) {
            ids.append(contentsOf: cached)
            return
        }
        var wordIds: [Int] = []
        bpe.encode(word, into: &wordIds)
        if word.count <= BPECache.maxWordBytes { cache.store(wordIds, for: word) }
        ids.append(contentsOf: wordIds)
    }

    /// The text of `ids` as CLIP decodes it: token strings concatenated, byte symbols turned back
    /// into UTF-8 (invalid sequences, e.g. a character cut by truncation, become U+FFFD), and each
    /// `</w>` into a space. Special tokens appear as their names; unknown ids as U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let token = tokens[id] else {
                bytes.append(contentsOf: "\u{FFFD}".utf8)
                continue
            }
            for scalar in token.unicodeScalars {
                if let byte = ByteSymbols.byteForScalar[scalar.value] {
                    bytes.append(byte)
                } else {
                    bytes.append(contentsOf: String(Character(scalar)).utf8)
                }
            }
        }
        return String(decoding: replacingEndOfWord(bytes), as: UTF8.self)
    }

    /// `</w>` -> space on the bytes: the same as Python's replace after decoding, since UTF-8
    /// error replacement never swallows ASCII bytes, and free of `String`'s grapheme matching.
    private func replacingEndOfWord(_ bytes: [UInt8]) -> [UInt8] {
        let marker = Array("</w>".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == marker[0], i + marker.count <= bytes.count, bytes[i..<(i + marker.count)].elementsEqual(marker) {
                out.append(UInt8(ascii: " "))
                i += marker.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }
}
