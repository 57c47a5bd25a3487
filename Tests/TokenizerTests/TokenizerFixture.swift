import Foundation
import Testing
@testable import Tokenizer

/// CLIP's vocabulary, loaded once for all tokenizer tests.
enum TokenizerFixture {
    static let vocabURL = Fixtures.url("clip-vocab/vocab.json")
    static let mergesURL = Fixtures.url("clip-vocab/merges.txt")

    private static let loaded = Result { try CLIPTokenizer(vocabURL: vocabURL, mergesURL: mergesURL) }

    static func clip() throws -> CLIPTokenizer { try loaded.get() }

    /// One reference case written by tools/make_tokenizer_fixtures.py from OpenAI's tokenizer.
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let text: String
        let contextLength: Int
        let clean: String
        let ids: [Int]
        let decoded: String

        enum CodingKeys: String, CodingKey {
            case text, clean, ids, decoded
            case contextLength = "context_length"
        }

        var testDescription: String { String(reflecting: text.prefix(40)) }
    }

    static let cases: [Case] = {
        do {
            let data = try Data(contentsOf: Fixtures.url("tokenizer/cases.json"))
            return try JSONDecoder().decode([Case].self, from: data)
        } catch {
            fatalError("Tests/Fixtures/tokenizer/cases.json unreadable (make tokenizer-fixtures): \(error)")
        }
    }()
}
