import Foundation
import Testing
@testable import Tokenizer

@Suite struct TokenizerTests {
    @Test func specialTokensHaveCLIPsIds() throws {
        let tokenizer = try TokenizerFixture.clip()
        #expect(tokenizer.startOfText == 49406)
        #expect(tokenizer.endOfText == 49407)
        #expect(tokenizer.encode("") == [49406, 49407])
        #expect(tokenizer.encode(" \n\t ") == [49406, 49407])
        // Written in the text, the special tokens are recognised, in any case.
        #expect(tokenizer.encode("<|endoftext|>") == [49406, 49407, 49407])
        #expect(tokenizer.encode("<|STARTOFTEXT|>") == [49406, 49406, 49407])
    }

    @Test func longTextIsCutToTheContextWithTheEndTokenLast() throws {
        let tokenizer = try TokenizerFixture.clip()
        let text = Array(repeating: "a photo of a small orange cat sitting on a mat.", count: 12).joined(separator: " ")
        let full = tokenizer.encode(text, contextLength: 10_000)
        #expect(full.count == 12 * 12 + 2)
        let cut = tokenizer.encode(text)
        #expect(cut.count == 77)
        #expect(cut.first == 49406)
        #expect(cut.last == 49407)
        #expect(Array(cut.prefix(76)) == Array(full.prefix(76)))
        #expect(cut.filter { $0 == 49407 }.count == 1)
        #expect(tokenizer.encode(text, contextLength: 1) == [49407])
        #expect(tokenizer.encode(text, contextLength: 2) == [49406, 49407])
        #expect(tokenizer.encode(text, contextLength: 3) == [49406, full[1], 49407])
    }

    @Test func shortTextIsNotPadded() throws {
        let tokenizer = try TokenizerFixture.clip()
        #expect(tokenizer.encode("a photo of a dog") == [49406, 320, 1125, 539, 320, 1929, 49407])
    }

    @Test func digitsAreOneTokenEach() throws {
        let tokenizer = try TokenizerFixture.clip()
        let ids = tokenizer.encode("2024")
        #expect(ids.count == 6)
        #expect(tokenizer.decode(ids) == "<|startoftext|>2 0 2 4 <|endoftext|>")
    }

    @Test func caseDoesNotChangeIds() throws {
        let tokenizer = try TokenizerFixture.clip()
        #expect(tokenizer.encode("A PHOTO OF A ÉCLAIR") == tokenizer.encode("a photo of a éclair"))
    }

    /// Lower-case ASCII words separated by single spaces come back verbatim between the special
    /// tokens (each word ends with `</w>`, decoded as a space).
    @Test func decodeInvertsEncodeForLowercaseASCII() throws {
        let tokenizer = try TokenizerFixture.clip()
        var generator = SplitMix64(seed: 7)
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        var texts = ["a photo of a cat", "supercalifragilisticexpialidocious", "the quick brown fox jumps over the lazy dog"]
        for _ in 0..<50 {
            let words = (0..<Int(generator.next() % 6 + 1)).map { _ in
                String((0..<Int(generator.next() % 12 + 1)).map { _ in letters[Int(generator.next() % 26)] })
            }
            texts.append(words.joined(separator: " "))
        }
        for text in texts {
            let ids = tokenizer.encode(text, contextLength: 1_000)
            #expect(tokenizer.decode(ids) == "<|startoftext|>" + text + " <|endoftext|>", "\(text)")
            #expect(tokenizer.decode(Array(ids.dropFirst().dropLast())) == text + " ")
        }
    }

    @Test func decodeReplacesACutCharacterAndUnknownIds() throws {
        let tokenizer = try TokenizerFixture.clip()
        // 猫 is E7 8C AB; the byte symbol of E7 alone is not valid UTF-8.
        let leadByte = tokenizer.bpe.byteIds[0xE7]
        let leadByteEnd = tokenizer.bpe.byteEndIds[0xE7]
        #expect(tokenizer.decode([Int(leadByte)]) == "\u{FFFD}")
        #expect(tokenizer.decode([Int(leadByteEnd)]) == "\u{FFFD} ")
        #expect(tokenizer.decode([320, 1_000_000]) == "a \u{FFFD}")
    }

    @Test func concurrentEncodingAgreesWithSequential() async throws {
        let tokenizer = try TokenizerFixture.clip()
        let texts = (0..<64).map { "a photo of \($0) cats, zebras and überraschungen no. \($0 * 7)" }
        let sequential = texts.map { tokenizer.encode($0) }
        let concurrent = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (index, text) in texts.enumerated() {
                group.addTask { (index, tokenizer.encode(text)) }
            }
            var results = [[Int]](repeating: [], count: texts.count)
            for await (index, ids) in group { results[index] = ids }
            return results
        }
        #expect(concurrent == sequential)
        #expect(tokenizer.cache.count > 0)
    }

    @Test func cacheRestartsWhenFull() {
        let cache = BPECache(capacity: 2)
        cache.store([1], for: [0x61])
        cache.store([2], for: [0x62])
        #expect(cache.count == 2)
        cache.store([3], for: [0x63])
        #expect(cache.count == 1)
        #expect(cache.ids(for: [0x63]) == [3])
        #expect(cache.ids(for: [0x61]) == nil)
    }
}

/// A small deterministic generator for test inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
