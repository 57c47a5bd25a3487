import Foundation
import Testing
@testable import Tokenizer

/// Differential test against OpenAI's CLIP tokenizer under ftfy 6.3.1: a seeded random corpus
/// (tools/make_tokenizer_corpus.py, seed 18) of mojibake in many code pages, accented
/// capitals, HTML entities, mixed scripts, emoji, combining marks and whitespace kinds, each
/// with the reference ids. Every string must give exactly those ids.
@Suite struct TokenizerCorpusTests {
    struct Case: Decodable, Sendable {
        let text: String
        let ids: [Int]
    }

    static func load(_ url: URL) throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
    }

    /// The texts whose ids differ, with both id lists.
    static func mismatches(_ cases: [Case]) throws -> [String] {
        let tokenizer = try TokenizerFixture.clip()
        return cases.compactMap { reference in
            let ids = tokenizer.encode(reference.text)
            return ids == reference.ids ? nil : "\(reference.text.debugDescription): \(ids) expected \(reference.ids)"
        }
    }

    @Test func committedCorpusMatchesReferenceIds() throws {
        let cases = try Self.load(Fixtures.url("tokenizer/corpus.json"))
        #expect(cases.count == 3000)
        // The corpus is not trivial: most strings are changed by the clean-up beyond case.
        let cleaned = cases.filter { String(String.UnicodeScalarView(CLIPTextCleaner.clean($0.text))) != $0.text.lowercased() }
        #expect(cleaned.count > 1500)
        let wrong = try Self.mismatches(cases)
        #expect(wrong.isEmpty, "\(wrong.count) of \(cases.count) differ: \(wrong.prefix(10))")
    }

    /// `make tokenizer-measure` points this at a fresh corpus (another seed) and reads the count.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RADA_TOKENIZER_CORPUS"] != nil))
    func freshCorpusMismatches() throws {
        let path = ProcessInfo.processInfo.environment["RADA_TOKENIZER_CORPUS"]!
        let cases = try Self.load(URL(fileURLWithPath: path))
        let wrong = try Self.mismatches(cases)
        print("fresh corpus \(path): \(wrong.count) of \(cases.count) differ")
        for line in wrong { print("  \(line)") }
        #expect(wrong.count <= 3)
    }

    /// Hostile nesting: ftfy would unescape `&amp;amp;…` one level per round (quadratic time);
    /// the port stops after `TextFixer.maxRounds` rounds, then `html.unescape` undoes two more.
    @Test func deeplyNestedEntitiesStopAfterTheRoundLimit() throws {
        let levels = 20_000
        let text = "&" + String(repeating: "amp;", count: levels)
        let start = ContinuousClock.now
        let cleaned = String(String.UnicodeScalarView(CLIPTextCleaner.clean(text)))
        let elapsed = ContinuousClock.now - start
        #expect(cleaned == "&" + String(repeating: "amp;", count: levels - TextFixer.maxRounds - 2))
        #expect(elapsed < .seconds(20), "\(elapsed)")
        // Two levels are well within the limit and come out as the reference's `&`.
        #expect(try TokenizerFixture.clip().encode("&amp;amp;") == [49406, 261, 49407])
    }

    /// Real words written by hand (issue 18): accented capitals before a space, common mojibake
    /// of Turkish, Czech, Hebrew, Devanagari, full-width, Korean, Arabic and Russian, code points
    /// newer than the reference's Unicode, canonical composition; ids of OpenAI's tokenizer (tools/make_tokenizer_corpus.py).
    @Test(arguments: [
        ("\u{00C5} i Lofoten", [49406, 127, 354, 328, 549, 898, 2581, 49407]),
        ("MA\u{00C7}\u{00C3} VERDE", [49406, 577, 10067, 127, 352, 16935, 49407]),
        ("IRM\u{00C3} E IRM\u{00C3}O", [49406, 582, 76, 127, 352, 324, 582, 76, 21141, 49407]),
        ("\u{00CE} LE", [49406, 127, 362, 579, 49407]),
        ("\u{00D0} \u{00F0}", [49406, 127, 364, 127, 364, 49407]),
        ("\u{00D9} P\u{00D2}", [49406, 127, 373, 79, 127, 366, 49407]),
        ("\u{00C4}\u{00B0}stanbul", [49406, 328, 16384, 11231, 49407]),
        ("\u{00C4}\u{00B1}", [49406, 41901, 49407]),
        ("\u{00C4}\u{008D}esky", [49406, 45414, 68, 2390, 49407]),
        ("\u{00C5}\u{0178}ehir", [49406, 23176, 127, 123, 68, 14728, 49407]),
        ("\u{00C4}\u{00BE}", [49406, 128, 378, 49407]),
        ("\u{00C5} ", [49406, 127, 354, 49407]),
        ("\u{00AC}\u{00C4}", [49406, 6309, 49407]),
        ("\u{00C2}\u{02DD}", [49406, 33613, 49407]),
        ("\u{00C3}\u{2026}", [49406, 127, 352, 959, 49407]),
        ("&Aring; ", [49406, 127, 354, 49407]),
        ("\u{A7CB}", [49406, 166, 253, 489, 49407]),
        ("\u{A7DC}", [49406, 166, 253, 506, 49407]),
        ("\u{1C89}", [49406, 157, 110, 487, 49407]),
        ("\u{00D7}\u{00A2}\u{00D7}\u{2018}\u{00D7}\u{00A8}\u{00D7}\u{2122}\u{00D7}\u{00AA}", [49406, 147, 95, 147, 239, 147, 101, 147, 247, 147, 359, 49407]),
        ("\u{00E0}\u{00A4}\u{00B9}\u{00E0}\u{00A4}\u{00BF}\u{00E0}\u{00A4}\u{00A8}\u{00E0}\u{00A5}\u{00E0}\u{00A4}\u{00A6}\u{00E0}\u{00A5}\u{20AC}", [49406, 29446, 26721, 3124, 101, 21259, 20199, 21259, 126, 97, 126, 355, 21259, 126, 98, 6309, 49407]),
        ("\u{00EF}\u{00BD}\u{2020}\u{00EF}\u{00BD}\u{2022}\u{00EF}\u{00BD}\u{0152}\u{00EF}\u{00BD}\u{0152}", [49406, 1476, 49407]),
        ("\u{00ED}\u{2022}\u{0153}\u{00EA}\u{00B5}\u{00AD}\u{00EC}\u{2013}\u{00B4}", [49406, 15197, 250, 31871, 255, 31625, 368, 49407]),
        ("caf\u{00C3}\u{00A9}", [49406, 15304, 49407]),
        ("doesn\u{00E2}\u{20AC}\u{2122}t", [49406, 2503, 713, 49407]),
        ("\u{00C3}\u{2030}COLE", [49406, 3459, 8166, 49407]),
        ("\u{00D8}\u{00A7}\u{00D9}\u{201E}\u{00D8}\u{00B9}\u{00D8}\u{00B1}\u{00D8}\u{00A8}\u{00D9}\u{0160}\u{00D8}\u{00A9}", [49406, 12973, 18843, 10948, 16378, 12046, 20915, 49407]),
        ("\u{00D0}\u{0178}\u{00D1}\u{20AC}\u{00D0}\u{00B8}\u{00D0}\u{00B2}\u{00D0}\u{00B5}\u{00D1}\u{201A}", [49406, 26302, 16370, 29503, 110, 22176, 141, 480, 49407]),
        ("\u{00C3}\u{00BC}ber", [49406, 6522, 1516, 49407]),
        ("\u{00C3}\u{2026} i Lofoten", [49406, 127, 352, 959, 328, 549, 898, 2581, 49407]),
        ("\u{0301}abc", [49406, 136, 479, 5334, 49407]),
        ("\u{00CA} ", [49406, 127, 359, 49407]),
        ("\u{00C3}  la carte", [49406, 21259, 1210, 44949, 49407]),
        // NFC as Python's unicodedata does it (Foundation composes U+10041 U+0301 into Á).
        ("\u{10041}\u{0301}", [49406, 172, 238, 223, 479, 136, 479, 49407]),
        ("\u{1004E}\u{030C} \u{0007}", [49406, 172, 238, 223, 236, 136, 490, 49407]),
        ("e\u{0301}\u{0327} o\u{0323}\u{0302}", [49406, 132, 358, 136, 479, 157, 119, 503, 49407]),
        ("\u{1100}\u{1161}\u{11A8}", [49406, 21122, 479, 49407]),
        ("\u{0958} \u{0344} A\u{030A}", [49406, 22067, 3124, 376, 136, 230, 136, 479, 127, 354, 49407]),
        ("\u{1D15E}", [49406, 6874, 227, 245, 6874, 227, 354, 49407]),
    ])
    func realWords(_ text: String, _ ids: [Int]) throws {
        #expect(try TokenizerFixture.clip().encode(text) == ids)
    }
}
