extension TextFixer {
    /// Lead bytes whose UTF-8 sequences make up the mojibake this fixer repairs: Latin-1
    /// supplement and Latin Extended-A (C2 C3 C5), Greek (CE CF), Cyrillic (D0 D1), Arabic (D8 D9),
    /// general punctuation, symbols and CJK (E2...E9), emoji (F0).
    private static let mojibakeLeadBytes: Set<UInt8> = [
        0xC2, 0xC3, 0xC5, 0xCE, 0xCF, 0xD0, 0xD1, 0xD8, 0xD9,
        0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xF0,
    ]

    /// Leads whose two-byte mojibake (`Ã–`, `Â“`) is suspicious whatever follows.
    private static let alwaysSuspiciousLeadBytes: Set<UInt8> = [0xC2, 0xC3, 0xCE, 0xD0]

    /// Windows-1252 bytes of punctuation that often stands for itself next to accented letters
    /// (‚ „ … ‘ ’ “ ” • – —): `é’“` is a word and quotes, not the mojibake of 钓.
    private static let punctuationBytes: Set<UInt8> = [0x82, 0x84, 0x85, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97]

    /// ftfy's `fix_encoding` for the common case: UTF-8 that was decoded as Latin-1 or as
    /// Windows-1252 (`cafÃ©`, `doesnâ€™t`), repeated while it changes the text (double mojibake),
    /// including ftfy's repair of byte A0 that became a space on the way (`voilÃ le`).
    ///
    /// ftfy first asks its "badness" heuristic whether the text looks like mojibake; here the test
    /// is that re-encoding gives valid UTF-8 with at least one multi-byte sequence led by one of
    /// `mojibakeLeadBytes` and, unless its lead is always suspicious, with a continuation byte that
    /// is not common punctuation. Not reproduced: the other code pages ftfy tries (Windows-1250/1251/
    /// 1253/1254/1257, ISO-8859-2, MacRoman, CP437), CESU-8, and lossy sequences with U+FFFD.
    /// Mojibake inside otherwise correct lines goes through `MojibakeClues.fixFragments`.
    static func fixEncoding(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var text = text
        while let fixed = fixEncodingOnce(text) {
            text = fixed
        }
        return text
    }

    private static func fixEncodingOnce(_ text: [Unicode.Scalar]) -> [Unicode.Scalar]? {
        guard text.contains(where: { !$0.isASCII }) else { return nil }
        let latin1: [UInt8]? = text.allSatisfy({ $0.value <= 0xFF }) ? text.map { UInt8($0.value) } : nil
        for bytes in [latin1, encodeWindows1252(text)] {
            if let bytes, let decoded = decodeMojibake(restoringByteA0(bytes)) {
                return decoded
            }
        }
        let fragmentsFixed = MojibakeClues.fixFragments(text)
        if fragmentsFixed != text { return fragmentsFixed }
        // What stays are C1 controls (bytes 0x80...0x9F read as Latin-1): read them as Windows-1252.
        let mapped = mapC1Controls(text)
        return mapped == text ? nil : mapped
    }

    /// ftfy's `restore_byte_a0`: where a space sits where byte A0 would complete a UTF-8 sequence,
    /// put A0 back. `Ã` + space becomes `à` + space unless a space or one of the Portuguese words
    /// `quele quela quilo s` follows (where "Ã " is more likely "à" alone); then, left to right,
    /// the space in a lead byte + space (leads C2 C3 C5 CE D0 D9), in E2/E3 + space +
    /// continuation, E0...E3 + continuation + space, and in F0 + three bytes of which one is a
    /// space, becomes A0. Continuations here exclude 85 and A0.
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

    private static func encodeWindows1252(_ text: [Unicode.Scalar]) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        for scalar in text {
            guard let byte = Windows1252.byte(for: scalar) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// The scalars of `bytes` when they are strict UTF-8 with a mojibake-like multi-byte sequence.
    private static func decodeMojibake(_ bytes: [UInt8]) -> [Unicode.Scalar]? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var scalars: [Unicode.Scalar] = []
        var position = 0
        var sawMojibake = false
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                let width = UTF8.width(scalar)
                let lead = bytes[position]
                if width > 1, mojibakeLeadBytes.contains(lead),
                   alwaysSuspiciousLeadBytes.contains(lead)
                    || bytes[(position + 1)..<(position + width)].contains(where: { !punctuationBytes.contains($0) })
                {
                    sawMojibake = true
                }
                position += width
                scalars.append(scalar)
            case .emptyInput:
                return sawMojibake ? scalars : nil
            case .error:
                return nil
            }
        }
    }

    /// ftfy's `fix_c1_controls`.
    static func mapC1Controls(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { (0x80...0x9F).contains($0.value) }) else { return text }
        return text.map { (0x80...0x9F).contains($0.value) ? Windows1252.scalar(forByte: UInt8($0.value)) : $0 }
    }
}
