import Adaptation
import Foundation
import Testing
@testable import Server

@Suite("Classify answers written without JSONEncoder")
struct ResponseJSONTests {
    /// Labels a client may send: plain, non-ASCII, and every kind JSON escapes.
    static let labels = [
        "cat", "T-shirt top", "", "naïve café", "猫", "🐈‍⬛", "line\u{2028}separator", "a \"quoted\" label", "back\\slash",
        "slash/ed", "tab\there", "new\nline", "nul\u{0}byte", "bell\u{7}", "del\u{7F}", "</script>",
    ]

    @Test("The same bytes as Routes.encoder for every label kind, number and optional field")
    func sameBytesAsEncoder() throws {
        var random = SeededGenerator(seed: 23)
        var floats: [Float] = [0, 1, 100, 1e-45, 1e-7, 0.1, 2.5e-5, 1e16, 1e21, .greatestFiniteMagnitude, -0.0, 0.33333334, 12_345_678]
        for _ in 0..<500 {
            let value = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random))
            if value.isFinite { floats.append(value) }
            floats.append(Float.random(in: 0...1, using: &random))
        }
        var compared = 0
        for i in 0..<600 {
            let results = (0..<(i % 4)).map { r in
                ClassifyResponse.Result(
                    top: (0..<((i + r) % 6)).map { k in
                        .init(label: Self.labels[(i * 7 + r * 3 + k) % Self.labels.count], probability: floats[(i * 31 + k) % floats.count])
                    },
                    entropy: floats[(i * 17 + r) % floats.count])
            }
            let response = ClassifyResponse(
                results: results, request: i % 3 == 0 ? nil : i * 1_000_003, optimizerSteps: i % 5 == 0 ? nil : i % 9)
            let expected = try Routes.encoder.encode(response)
            let written = try #require(response.encodedJSON())
            let same = written == Array(expected)
            #expect(same, "encoder: \(String(decoding: expected, as: UTF8.self)); written: \(String(decoding: written, as: UTF8.self))")
            compared += 1
        }
        #expect(compared == 600)
    }

    @Test("A non-finite number is left to the encoder, which refuses it")
    func nonFiniteIsRefused() {
        for bad in [Float.nan, .infinity, -.infinity] {
            let inEntropy = ClassifyResponse(results: [.init(top: [.init(label: "a", probability: 0.5)], entropy: bad)])
            let inProbability = ClassifyResponse(results: [.init(top: [.init(label: "a", probability: bad)], entropy: 1)])
            #expect(inEntropy.encodedJSON() == nil)
            #expect(inProbability.encodedJSON() == nil)
            #expect(throws: EncodingError.self) { try Routes.encoder.encode(inProbability) }
        }
    }

    @Test("Only labels JSON would escape leave the verbatim path")
    func verbatimLabels() {
        #expect(JSONText.isVerbatim("naïve café 猫"))
        for escaped in ["a\"b", "a\\b", "a/b", "a\nb", "\u{1F}"] { #expect(!JSONText.isVerbatim(escaped)) }
    }
}
