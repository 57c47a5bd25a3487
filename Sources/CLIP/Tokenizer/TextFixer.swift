import Foundation

/// The part of ftfy 6's `fix_text` (default configuration) that CLIP's tokenizer depends on.
///
/// Like ftfy, the text is fixed line by line (each segment ends after a `\n`), and each line is
/// put through the fixers in ftfy's order until it stops changing: HTML unescaping (skipped from
/// the first line that contains `<` onwards, ftfy's "auto" rule), mojibake (see `fixEncoding`),
/// C1 controls, Latin ligatures, full/half-width forms, curly quotes, line breaks, terminal escapes,
/// control characters, NFC. Surrogates cannot occur in Swift strings; segments are not cut at
/// ftfy's 1 000 000-code-point limit.
enum TextFixer {
    static func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescapeHTML = true
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count, text[end] != "\n" { end += 1 }
            end = min(end + 1, text.count)
            let segment = Array(text[start..<end])
            if unescapeHTML, segment.contains("<") { unescapeHTML = false }
            out.append(contentsOf: fixSegment(segment, unescapeHTML: unescapeHTML))
            start = end
        }
        return out
    }

    static func fixSegment(_ segment: [Unicode.Scalar], unescapeHTML: Bool) -> [Unicode.Scalar] {
        var text = segment
        while true {
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
            text = nfc(text)
            if text == original { return text }
        }
    }

    /// Ligatures and digraphs of Latin letters that ftfy splits; others (æ, œ) are left alone.
    static let latinLigatures: [UInt32: [Unicode.Scalar]] = [
        0x0132: ["I", "J"], 0x0133: ["i", "j"], 0x0149: ["\u{02BC}", "n"],
        0x01F1: ["D", "Z"], 0x01F2: ["D", "z"], 0x01F3: ["d", "z"],
        0x01C4: ["D", "\u{017D}"], 0x01C5: ["D", "\u{017E}"], 0x01C6: ["d", "\u{017E}"],
        0x01C7: ["L", "J"], 0x01C8: ["L", "j"], 0x01C9: ["l", "j"],
        0x01CA: ["N", "J"], 0x01CB: ["N", "j"], 0x01CC: ["n", "j"],
        0xFB00: ["f", "f"], 0xFB01: ["f", "i"], 0xFB02: ["f", "l"], 0xFB03: ["f", "f", "i"],
        0xFB04: ["f", "f", "l"], 0xFB05: ["\u{017F}", "t"], 0xFB06: ["s", "t"],
    ]

    /// Ideographic space to space, and each full/half-width form (U+FF01...U+FFEF) to its
    /// compatibility (NFKC) equivalent.
    static let widthMap: [UInt32: [Unicode.Scalar]] = {
        var map: [UInt32: [Unicode.Scalar]] = [0x3000: [" "]]
        for value: UInt32 in 0xFF01..<0xFFF0 {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let normalized = Array(String(Character(scalar)).precomposedStringWithCompatibilityMapping.unicodeScalars)
            if normalized != [scalar] { map[value] = normalized }
        }
        return map
    }()

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
    /// as Python's `\d`.
    static func removeTerminalEscapes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("\u{1B}") else { return text }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            if text[i] == "\u{1B}", i + 1 < text.count, text[i + 1] == "[" {
                var j = i + 2
                while j < text.count, text[j] == ";" || text[j].properties.generalCategory == .decimalNumber { j += 1 }
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

    static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Below U+0300 every scalar is already NFC and none composes with its neighbour.
        guard text.contains(where: { $0.value >= 0x300 }) else { return text }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: text)
        return Array(String(view).precomposedStringWithCanonicalMapping.unicodeScalars)
    }
}
