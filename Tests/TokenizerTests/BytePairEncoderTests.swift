import Foundation
import Testing
@testable import Tokenizer

/// The ranked queue gives CLIP's loop's ids, and a long word costs O(n log n), not O(n²).
@Suite struct BytePairEncoderTests {
    /// Words of `length` bytes drawn from `alphabet` (UTF-8 of each scalar).
    static func words(_ alphabet: [Unicode.Scalar], lengths: [Int], perLength: Int, seed: UInt64) -> [[UInt8]] {
        var random = SplitMix64(seed: seed)
        var words: [[UInt8]] = []
        for length in lengths {
            for _ in 0..<perLength {
                var word: [UInt8] = []
                while word.count < length {
                    let scalar = alphabet[Int(random.next() % UInt64(alphabet.count))]
                    word.append(contentsOf: UTF8.encode(scalar)!)
                }
                words.append(word)
            }
        }
        return words
    }

    static let alphabets: [(name: String, scalars: [Unicode.Scalar])] = [
        ("a and b", ["a", "b"]),
        ("one letter", ["e"]),
        ("a-z", (0x61...0x7A).map { Unicode.Scalar($0)! }),
        ("letters and digits", (0x30...0x39).map { Unicode.Scalar($0)! } + (0x61...0x66).map { Unicode.Scalar($0)! }),
        ("Latin-1 and Greek", (0xE0...0xFF).map { Unicode.Scalar($0)! } + (0x3B1...0x3C9).map { Unicode.Scalar($0)! }),
        ("CJK and emoji", [0x4E00, 0x4E01, 0x4E03, 0x4E07, 0x4E08, 0x1F600, 0x1F44D].map { Unicode.Scalar($0)! }),
    ]

    @Test(arguments: alphabets.indices)
    func queueGivesTheLoopsIds(alphabet: Int) throws {
        let bpe = try TokenizerFixture.clip().bpe
        #expect(bpe.ranksFollowCreation)
        let (name, scalars) = Self.alphabets[alphabet]
        let words = Self.words(scalars, lengths: [1, 2, 3, 4, 7, 16, 63, 64, 65, 100, 257, 1000], perLength: 6, seed: UInt64(alphabet) + 11)
        var differing = 0
        for word in words {
            var byRounds: [Int] = [], byQueue: [Int] = []
            bpe.encodeByRounds(word, into: &byRounds)
            bpe.encodeByQueue(word, into: &byQueue)
            if byRounds != byQueue { differing += 1 }
        }
        #expect(differing == 0, "\(name): \(differing) of \(words.count) words differ")
    }

    @Test func mergeListsThatBreakTheRuleUseTheLoop() throws {
        // "ab a" ranks before the "a b" that makes "ab". CLIP's loop merges every "a b" first
        // ("ab ab c</w>"); a queue would merge the "ab a" born from the first one at once.
        let merges = [("ab", "a"), ("a", "b")]
        let vocab = TokenizerErrorTests.tinyVocab(merges: merges)
        let tokenizer = try CLIPTokenizer(vocab: vocab, merges: merges)
        #expect(!tokenizer.bpe.ranksFollowCreation)
        let word = Array("ab".utf8) + Array(repeating: Array("ab".utf8), count: 40).flatMap { $0 } + Array("c".utf8)
        var byRounds: [Int] = [], byQueue: [Int] = []
        tokenizer.bpe.encodeByRounds(word, into: &byRounds)
        tokenizer.bpe.encodeByQueue(word, into: &byQueue)
        #expect(byRounds.first == vocab["ab"] && byRounds.count == 42)
        #expect(byQueue != byRounds)
        let text = String(decoding: word, as: UTF8.self)
        #expect(tokenizer.encode(text, contextLength: 100) == [vocab["<|startoftext|>"]!] + byRounds + [vocab["<|endoftext|>"]!])
    }

    @Test func embeddedModelsMergesKeepTheRule() throws {
        let directory = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models/fashion-clip")
        let tokenizer = try CLIPTokenizer(vocabURL: directory.appendingPathComponent("vocab.json"), mergesURL: directory.appendingPathComponent("merges.txt"))
        #expect(tokenizer.bpe.ranksFollowCreation)
    }

    /// A word of 100 000 random letters (the loop took 6 s on it in a release build, minutes in
    /// a debug one). The bound is wide: the queue takes about 0.1 s (release) to 2 s (debug).
    @Test func longWordIsNotQuadratic() throws {
        let tokenizer = try TokenizerFixture.clip()
        let word = Self.words((0x61...0x7A).map { Unicode.Scalar($0)! }, lengths: [100_000], perLength: 1, seed: 5)[0]
        let clock = ContinuousClock()
        var ids: [Int] = []
        let elapsed = clock.measure { ids = tokenizer.encode(String(decoding: word, as: UTF8.self), contextLength: 200_000) }
        #expect(ids.count > 20_000 && ids.count < 100_000)
        #expect(elapsed < .seconds(20), "took \(elapsed)")
    }

    @Test func longWordsStayOutOfTheCache() throws {
        // Its own tokenizer: the shared one's cache is filled by the other tests meanwhile.
        let tokenizer = try CLIPTokenizer(vocabURL: TokenizerFixture.vocabURL, mergesURL: TokenizerFixture.mergesURL)
        let before = tokenizer.cache.count
        _ = tokenizer.encode(String(repeating: "q", count: BPECache.maxWordBytes + 1))
        #expect(tokenizer.cache.count == before)
        _ = tokenizer.encode(String(repeating: "q", count: BPECache.maxWordBytes))
        #expect(tokenizer.cache.count == before + 1)
    }
}
