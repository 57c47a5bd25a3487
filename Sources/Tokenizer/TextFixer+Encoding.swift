extension TextFixer {
    /// ftfy's `fix_encoding`: one step of `fixEncodingStep` after another until the text stops
    /// changing (double mojibake takes two), at most `maxRounds` steps (each undoes a level of
    /// mojibake, which about doubles the length, so only hostile text gets near).
    static func fixEncoding(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var text = text
        for _ in 0..<maxRounds {
            let fixed = fixEncodingStep(text)
            if fixed == text { return text }
            text = fixed
        }
        return text
    }

    /// ftfy's `_fix_encoding_one_step_and_explain` with the default configuration: text that is
    /// ASCII or not `Badness.isBad` stays; otherwise the first code page of ftfy's list that can
    /// encode the text and whose bytes (after `restore_byte_a0` and, for the sloppy ones,
    /// `replace_lossy_sequences`) are UTF-8 (or CESU-8) gives the answer; then inconsistent UTF-8
    /// pieces, then C1 controls read as Windows-1252.
    static func fixEncodingStep(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { !$0.isASCII }), Badness.isBad(text[...]) else { return text }
        var latin1Possible = false
        for codec in SingleByteCodec.all {
            guard var bytes = codec.encode(text) else { continue }
            if codec.name == "latin-1" { latin1Possible = true }
            if codec.name != "macroman" { bytes = restoringByteA0(bytes) }
            if codec.isSloppy { bytes = replacingLossySequences(bytes) }
            let decoded = bytes.contains(0xED) || bytes.contains(0xC0) ? UTF8Bytes.decodeVariants(bytes) : UTF8Bytes.decode(bytes)
            if let decoded { return decoded }
        }
        let pieces = InconsistentUTF8.decode(text)
        if pieces != text { return pieces }
        if latin1Possible {
            // Latin-1 text: its C1 controls were meant as Windows-1252 (ftfy's strict codec, so an
            // undefined byte leaves the text to the C1 step below).
            if let fixed = SingleByteCodec.windows1252FromLatin1(text), fixed != text { return fixed }
        }
        return mapC1Controls(text)
    }

    /// ftfy's `restore_byte_a0`: where a space sits where byte A0 would complete a UTF-8 sequence,
    /// put A0 back. `Ã` + space becomes `à` + space unless a space or one of the Portuguese words
    /// `quele quela quilo s` follows (where "Ã " is more likely "à" alone); then, left to right,
    /// the space in a lead byte + space (leads C2 C3 C5 CE D0 D9), in E2/E3 + space +
    /// continuation, E0...E3 + continuation + space, and in F0 + three bytes of which one is a
    /// space, becomes A0. Continuations here exclude 85 and A0, except after F0.
    static func restoringByteA0(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(0x20) else { return bytes }
        var graveFixed: [UInt8] = []
        graveFixed.reserveCapacity(bytes.count + 4)
        for (i, byte) in bytes.enumerated() {
            graveFixed.append(byte)
            if byte == 0xC3, i + 1 < bytes.count, bytes[i + 1] == 0x20, !startsPortugueseWord(bytes, at: i + 2) {
                graveFixed.append(0xA0)
            }
        }
        var out = graveFixed
        let continuation = { (b: UInt8) in (0x80...0xBF).contains(b) && b != 0x85 && b != 0xA0 }
        let anyContinuation = { (b: UInt8) in (0x80...0xBF).contains(b) }
        var i = 0
        while i < out.count {
            let lead = out[i]
            func at(_ k: Int) -> UInt8? { i + k < out.count ? out[i + k] : nil }
            var length = 0
            if [0xC2, 0xC3, 0xC5, 0xCE, 0xD0, 0xD9].contains(lead), at(1) == 0x20 {
                length = 2
            } else if lead == 0xE2 || lead == 0xE3, at(1) == 0x20, let c = at(2), continuation(c) {
                length = 3
            } else if (0xE0...0xE3).contains(lead), let c = at(1), continuation(c), at(2) == 0x20 {
                length = 3
            } else if lead == 0xF0, let b1 = at(1), let b2 = at(2), let b3 = at(3),
                      [b1, b2, b3].filter({ $0 == 0x20 }).count == 1,
                      [b1, b2, b3].allSatisfy({ $0 == 0x20 || anyContinuation($0) }) {
                length = 4
            }
            if length > 0 {
                for k in 1..<length where out[i + k] == 0x20 { out[i + k] = 0xA0 }
                i += length
            } else {
                i += 1
            }
        }
        return out
    }

    /// Whether a space or "quele", "quela", "quilo", "s " starts at `index`.
    private static func startsPortugueseWord(_ bytes: [UInt8], at index: Int) -> Bool {
        for word in [" ", "quele", "quela", "quilo", "s "] {
            let utf8 = Array(word.utf8)
            if index + utf8.count <= bytes.count, Array(bytes[index..<(index + utf8.count)]) == utf8 { return true }
        }
        return false
    }

    /// ftfy's LOSSY_UTF8_RE, alternatives in order: UTF-8 and CESU-8 sequences in which byte 1A
    /// (a U+FFFD of the sloppy code pages) or, once, `?` stands for a lost byte.
    private static let lossySequences: [[ClosedRangeSet]] = {
        let lost: ClosedRangeSet = [0x1A...0x1A, 0x3F...0x3F]
        let lostOrContinuation: ClosedRangeSet = [0x1A...0x1A, 0x80...0xBF]
        let any: ClosedRangeSet = [0x1A...0x1A, 0x3F...0x3F, 0x80...0xBF]
        let ed: ClosedRangeSet = [0xED...0xED]
        return [
            [[0xC2...0xDF], [0x1A...0x1A]],
            [[0xC2...0xC3], [0x3F...0x3F]],
            [ed, [0xA0...0xAF], lost, ed, [0xB0...0xBF], any],
            [ed, [0xA0...0xAF], any, ed, [0xB0...0xBF], lost],
            [[0xE0...0xEF], lost, lostOrContinuation],
            [[0xE0...0xEF], lostOrContinuation, lost],
            [[0xF0...0xF4], lost, lostOrContinuation, lostOrContinuation],
            [[0xF0...0xF4], lostOrContinuation, lost, lostOrContinuation],
            [[0xF0...0xF4], lostOrContinuation, lostOrContinuation, lost],
            [[0x1A...0x1A]],
        ]
    }()

    typealias ClosedRangeSet = [ClosedRange<UInt8>]

    /// ftfy's `replace_lossy_sequences`: each match of `lossySequences` becomes U+FFFD's UTF-8.
    static func replacingLossySequences(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(0x1A) || bytes.contains(0x3F) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let match = lossySequences.first { pattern in
                i + pattern.count <= bytes.count
                    && pattern.indices.allSatisfy { k in pattern[k].contains { $0.contains(bytes[i + k]) } }
            }
            if let match {
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                i += match.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// ftfy's `fix_c1_controls`.
    static func mapC1Controls(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { (0x80...0x9F).contains($0.value) }) else { return text }
        return text.map { (0x80...0x9F).contains($0.value) ? SingleByteCodec.sloppyWindows1252.scalars[Int($0.value)] : $0 }
    }
}
