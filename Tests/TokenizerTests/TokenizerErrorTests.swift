import Foundation
import Testing
@testable import Tokenizer

/// Bad vocabulary and merges input gives the error that names the problem, file and line.
@Suite struct TokenizerErrorTests {
    /// The smallest byte-level vocabulary: 256 byte symbols, the same with `</w>`, the specials,
    /// and the tokens of `merges`.
    static func tinyVocab(merges: [(String, String)] = []) -> [String: Int] {
        var tokens = (0...255).map { ByteSymbols.symbol(for: UInt8($0)) }
        tokens += tokens.map { $0 + "</w>" }
        tokens += merges.map { $0.0 + $0.1 }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        var vocab: [String: Int] = [:]
        for (id, token) in tokens.enumerated() { vocab[token] = id }
        return vocab
    }

    /// A fresh directory holding the given vocab.json and merges.txt texts.
    static func files(vocab: String, merges: String) throws -> (URL, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let vocabURL = directory.appendingPathComponent("vocab.json")
        let mergesURL = directory.appendingPathComponent("merges.txt")
        try Data(vocab.utf8).write(to: vocabURL)
        try Data(merges.utf8).write(to: mergesURL)
        return (vocabURL, mergesURL)
    }

    static func vocabJSON(_ vocab: [String: Int]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: vocab, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
    }

    /// The error loading these files gives, with paths cut to the file name (the directory is
    /// temporary).
    static func loadError(vocab: String, merges: String) throws -> TokenizerError? {
        let (vocabURL, mergesURL) = try files(vocab: vocab, merges: merges)
        defer { try? FileManager.default.removeItem(at: vocabURL.deletingLastPathComponent()) }
        do {
            _ = try CLIPTokenizer(vocabURL: vocabURL, mergesURL: mergesURL)
            return nil
        } catch let error as TokenizerError {
            let name = { (path: String) in URL(fileURLWithPath: path).lastPathComponent }
            switch error {
            case .malformedVocab(let path, let line, let reason): return .malformedVocab(path: name(path), line: line, reason: reason)
            case .malformedMerges(let path, let line, let content): return .malformedMerges(path: name(path), line: line, content: content)
            case .mergeTokenNotInVocab(let path, let line, let token): return .mergeTokenNotInVocab(path: name(path), line: line, token: token)
            default: return error
            }
        }
    }

    @Test func tinyVocabularyMergesByRank() throws {
        // "b c</w>" outranks "a b", so "abc" becomes a + bc</w> and "ab" the merged ab</w>.
        let merges = [("b", "c</w>"), ("a", "b"), ("a", "b</w>")]
        let vocab = Self.tinyVocab(merges: merges)
        let tokenizer = try CLIPTokenizer(vocab: vocab, merges: merges)
        #expect(tokenizer.encode("abc") == [vocab["<|startoftext|>"]!, vocab["a"]!, vocab["bc</w>"]!, vocab["<|endoftext|>"]!])
        #expect(tokenizer.encode("ab") == [vocab["<|startoftext|>"]!, vocab["ab</w>"]!, vocab["<|endoftext|>"]!])
        #expect(tokenizer.decode(tokenizer.encode("abc ab")) == "<|startoftext|>abc ab <|endoftext|>")

        let (vocabURL, mergesURL) = try Self.files(
            vocab: Self.vocabJSON(vocab), merges: "#version: 0.2\n" + merges.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n")
        let loaded = try CLIPTokenizer(vocabURL: vocabURL, mergesURL: mergesURL)
        #expect(loaded.encode("abc ab") == tokenizer.encode("abc ab"))
    }

    @Test func missingFilesAreNamed() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/vocab.json")
        #expect(throws: TokenizerError.fileNotFound(path: "/nonexistent/vocab.json")) {
            try CLIPTokenizer(vocabURL: missing, mergesURL: TokenizerFixture.mergesURL)
        }
        let directory = FileManager.default.temporaryDirectory
        #expect(throws: TokenizerError.unreadableFile(path: directory.path, reason: "it is a directory")) {
            try CLIPTokenizer(vocabURL: TokenizerFixture.vocabURL, mergesURL: directory)
        }
    }

    @Test(arguments: [
        ("[1, 2]", 1, "the file must start with '{'"),
        ("{\n\"a\": 1,\n\"b\": x\n}", 3, "the id of \"b\" is not a non-negative integer below 10^9"),
        ("{\n\"a\": 1,\n\"b\": -2}", 3, "the id of \"b\" is not a non-negative integer below 10^9"),
        ("{\"a\": 1.5}", 1, "the id of \"a\" is not an integer"),
        ("{\"a\" 1}", 1, "expected ':' after the key \"a\""),
        ("{\"a\": 1\n\n \"b\": 2}", 3, "expected ',' or '}' after the id of \"a\""),
        ("{\"a\": 1}\n}", 2, "unexpected text after the closing '}'"),
        ("{\"a\\q\": 1}", 1, "invalid escape '\\q'"),
        ("{\"a\": 1, \"\\ud800\": 2}", 1, "unpaired surrogate escape"),
        ("{\"a", 1, "unterminated string"),
    ])
    func malformedVocabularyNamesTheLine(json: String, line: Int, reason: String) throws {
        let error = try Self.loadError(vocab: json, merges: "#version: 0.2\n")
        #expect(error == .malformedVocab(path: "vocab.json", line: line, reason: reason))
    }

    @Test func vocabularyEscapesAreDecoded() throws {
        var vocab = Self.tinyVocab()
        let json = try Self.vocabJSON(vocab).replacingOccurrences(of: "\"!\"", with: "\"\\u0021\"")
        vocab["\u{1F600}"] = 600
        let withEmoji = String(json.dropLast()) + ",\"\\ud83d\\ude00\": 600, \"tab\\t\\\"q\\\\\": 601}"
        let (vocabURL, _) = try Self.files(vocab: withEmoji, merges: "")
        let parsed = try VocabularyFiles.parseVocab(VocabularyFiles.read(vocabURL), path: vocabURL.path)
        #expect(parsed["!"] == vocab["!"])
        #expect(parsed["\u{1F600}"] == 600)
        #expect(parsed["tab\t\"q\\"] == 601)
        #expect(parsed.count == vocab.count + 1)
    }

    @Test(arguments: [
        ("#version: 0.2\na b\n\nab\n", 4, "ab"),
        ("#version: 0.2\na b\nc d e\n", 3, "c d e"),
        ("#version: 0.2\na  b\n", 2, "a  b"),
        ("#version: 0.2\na b\nb\tc\n", 3, "b\tc"),
    ])
    func malformedMergeLineIsNamed(merges: String, line: Int, content: String) throws {
        let vocab = try Self.vocabJSON(Self.tinyVocab(merges: [("a", "b")]))
        #expect(try Self.loadError(vocab: vocab, merges: merges) == .malformedMerges(path: "merges.txt", line: line, content: content))
    }

    @Test func messagesNameFileLineAndProblem() {
        #expect(TokenizerError.malformedMerges(path: "/m/merges.txt", line: 4, content: "ab").description
            == "/m/merges.txt:4: malformed merge \"ab\" (expected two tokens separated by one space)")
        #expect(TokenizerError.malformedVocab(path: "/m/vocab.json", line: 3, reason: "unterminated string").description
            == "/m/vocab.json:3: malformed vocabulary JSON: unterminated string (expected one object of \"token\": id pairs)")
        #expect(TokenizerError.missingSpecialToken("<|endoftext|>").description.contains("<|endoftext|>"))
        #expect(TokenizerError.fileNotFound(path: "/x/vocab.json").description.contains("/x/vocab.json"))
    }

    @Test func mergeOutsideTheVocabularyIsNamed() throws {
        let vocab = try Self.vocabJSON(Self.tinyVocab(merges: [("a", "b")]))
        #expect(try Self.loadError(vocab: vocab, merges: "#version: 0.2\na b\nab c\n")
            == .mergeTokenNotInVocab(path: "merges.txt", line: 3, token: "abc"))
        #expect(throws: TokenizerError.mergeTokenNotInVocab(path: "merges", line: 1, token: "xy")) {
            try CLIPTokenizer(vocab: Self.tinyVocab(), merges: [("xy", "z")])
        }
    }

    @Test func negativeIdIsRejected() {
        var vocab = Self.tinyVocab()
        vocab["x"] = -1
        #expect(throws: TokenizerError.malformedVocab(path: "vocabulary", line: 1, reason: "the id -1 of \"x\" is outside 0...2147483647")) {
            try CLIPTokenizer(vocab: vocab, merges: [])
        }
    }

    @Test func missingSpecialAndByteTokensAreNamed() {
        var vocab = Self.tinyVocab()
        vocab["<|endoftext|>"] = nil
        #expect(throws: TokenizerError.missingSpecialToken("<|endoftext|>")) {
            try CLIPTokenizer(vocab: vocab, merges: [])
        }
        vocab = Self.tinyVocab()
        vocab["Ā</w>"] = nil  // the symbol of byte 0x00
        #expect(throws: TokenizerError.missingByteSymbol("Ā</w>")) {
            try CLIPTokenizer(vocab: vocab, merges: [])
        }
    }
}
