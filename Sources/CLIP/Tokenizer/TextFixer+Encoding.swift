extension TextFixer {
    /// Lead bytes whose UTF-8 sequences make up the mojibake this fixer repairs: Latin-1
    /// supplement and Latin Extended-A (C2 C3 C5), Greek (CE CF), Cyrillic (D0 D1), Arabic (D8 D9),
    /// general punctuation, symbols and CJK (E2...E9), emoji (F0).
    private static let mojibakeLeadBytes: Set<UInt8> = [
        0xC2, 0xC3, 0xC5, 0xCE, 0xCF, 0xD0, 0xD1, 0xD8, 0xD9,
        0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xF0,
    ]

    /// ftfy's `fix_encoding` for the common case: UTF-8 that was decoded as Latin-1 or as
    /// Windows-1252 (`cafÃ©`, `doesnâ€™t`), repeated while it changes the text (double mojibake).
    ///
    /// ftfy first asks its "badness" heuristic whether the text looks like mojibake; here the test
    /// is that re-encoding gives valid UTF-8 with at least one multi-byte sequence led by one of
    /// `mojibakeLeadBytes`. Not reproduced: the other code pages ftfy tries (Windows-1250/1251/
    /// 1253/1254/1257, ISO-8859-2, MacRoman, CP437), CESU-8, a space that stood for byte A0
    /// (`voilÃ le`), lossy sequences with U+FFFD, and mojibake mixed with correct text on one line.
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
            if let bytes, let decoded = decodeMojibake(bytes) {
                return decoded
            }
        }
        // What stays are C1 controls (bytes 0x80...0x9F read as Latin-1): read them as Windows-1252.
        let mapped = mapC1Controls(text)
        return mapped == text ? nil : mapped
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
                if !scalar.isASCII, mojibakeLeadBytes.contains(bytes[position]) { sawMojibake = true }
                position += UTF8.width(scalar)
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
