import Testing
@testable import Tokenizer

/// Every committed reference case: same clean-up, same ids, same decoding as OpenAI's tokenizer.
@Suite struct TokenizerCaseTests {
    @Test func fixtureCoversTheRequiredCases() {
        let cases = TokenizerFixture.cases
        #expect(cases.count >= 40)
        #expect(cases.contains { $0.text.isEmpty })
        #expect(cases.contains { $0.ids.count == 77 && $0.contextLength == 77 })
        #expect(cases.contains { $0.clean != $0.text.lowercased() })
    }

    @Test(arguments: TokenizerFixture.cases)
    func cleanedTextMatchesPython(_ reference: TokenizerFixture.Case) {
        let cleaned = String(String.UnicodeScalarView(CLIPTextCleaner.clean(reference.text)))
        #expect(Array(cleaned.unicodeScalars) == Array(reference.clean.unicodeScalars))
    }

    @Test(arguments: TokenizerFixture.cases)
    func idsMatchPython(_ reference: TokenizerFixture.Case) throws {
        let tokenizer = try TokenizerFixture.clip()
        #expect(tokenizer.encode(reference.text, contextLength: reference.contextLength) == reference.ids)
    }

    @Test(arguments: TokenizerFixture.cases)
    func decodingMatchesPython(_ reference: TokenizerFixture.Case) throws {
        let tokenizer = try TokenizerFixture.clip()
        #expect(Array(tokenizer.decode(reference.ids).unicodeScalars) == Array(reference.decoded.unicodeScalars))
    }
}
