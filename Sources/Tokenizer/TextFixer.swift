/// ftfy 6.3's `fix_text` with its default configuration, as CLIP calls it.
///
/// Like ftfy, the text is fixed line by line (each segment ends after a `\n`, or after ftfy's
/// 1 000 000 code points), and each line is put through the fixers in ftfy's order until it
/// stops changing: HTML unescaping (skipped from the first line that contains `<` onwards,
/// ftfy's "auto" rule), mojibake (`fixEncoding`), C1 controls, Latin ligatures, full/half-width
/// forms, curly quotes, line breaks, terminal escapes, control characters, NFC. ftfy's
/// `fix_surrogates` has nothing to do: Swift strings hold no surrogates.
enum TextFixer {
    /// ftfy's `max_decode_length`.
    static let maxSegmentLength = 1_000_000

    static func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescapeHTML = true
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count, end - start < maxSegmentLength, text[end] != "\n" { end += 1 }
            end = min(end + 1, text.count, start + maxSegmentLength)
            let segment = Array(text[start..<end])
            if unescapeHTML, segment.contains("<") { unescapeHTML = false }
            out.append(contentsOf: fixSegment(segment, unescapeHTML: unescapeHTML))
            start = end
        }
        return out
    }

    /// The most rounds of fixers a segment gets. ftfy repeats until nothing changes, which takes
    /// one round per level of nested escaping: `&amp;amp;amp;…` of n levels costs it n rounds of
    /// O(n), quadratic time for one hostile prompt. Real text settles in two or three rounds;
    /// beyond this many the text keeps the levels not yet undone (the one deliberate divergence
    /// from ftfy, Docs/architecture.md).
    static let maxRounds = 16

    static func fixSegment(_ segment: [Unicode.Scalar], unescapeHTML: Bool) -> [Unicode.Scalar] {
        var text = segment
        for _ in 0..<maxRounds {
            let original = text
            if unescapeHTML { text = HTMLEntities.ftfyUnescape(text) }
            text = fixEncoding(text)
            text = mapC1Controls(text)
            text = replaceScalars(text, using: latinLigatures)
            text = replaceScalars(text, using: widthMap)
            text = uncurlQuotes(text)
            text = fixLineBreaks(text)
            text = removeTerminalEscapes(text)
            text.removeAll(where: isUnwantedControl)
            text = PythonText.nfc(text)
            if text == original { return text }
        }
        return text
    }

    /// ftfy's LIGATURES: Latin ligatures and digraphs it splits (æ, œ stay).
    static let latinLigatures = CodePointRanges.replacementMap(ligatureMap)

    /// ftfy's WIDTH_MAP: ideographic space to space, full/half-width forms to their NFKC forms
    /// (as Python's Unicode version gives them).
    static let widthMap = CodePointRanges.replacementMap(widthMapTable)

    static func replaceScalars(_ text: [Unicode.Scalar], using map: [UInt32: [Unicode.Scalar]]) -> [Unicode.Scalar] {
        guard text.contains(where: { map[$0.value] != nil }) else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for scalar in text {
            if let replacement = map[scalar.value] { out.append(contentsOf: replacement) } else { out.append(scalar) }
        }
        return out
    }

    static func uncurlQuotes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        text.map { scalar in
            switch scalar.value {
            case 0x02BC, 0x2018...0x201B: return "'"
            case 0x201C...0x201F: return "\""
            default: return scalar
            }
        }
    }

    static func fixLineBreaks(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            switch text[i].value {
            case 0x0D:
                out.append("\n")
                if i + 1 < text.count, text[i + 1] == "\n" { i += 1 }
            case 0x2028, 0x2029, 0x85:
                out.append("\n")
            default:
                out.append(text[i])
            }
            i += 1
        }
        return out
    }

    /// Removes ANSI escapes `ESC [ (digits or ;)* letter`; digits are any Unicode decimal digit,
    /// as Python's `\d` (`str.isdecimal`).
    static func removeTerminalEscapes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("\u{1B}") else { return text }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            if text[i] == "\u{1B}", i + 1 < text.count, text[i + 1] == "[" {
                var j = i + 2
                while j < text.count, text[j] == ";" || PythonText.isDecimal(text[j]) { j += 1 }
                if j < text.count, text[j].isASCII, text[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    /// Controls ftfy drops: C0 except tab/newline/form feed/return, DEL, deprecated Arabic format
    /// controls, BOM, interlinear annotations, object replacement character.
    static func isUnwantedControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }
}
