/// HTML character references, decoded the two ways CLIP's text clean-up decodes them:
/// Python's `html.unescape` (applied twice by CLIP) and ftfy's stricter `unescape_html`.
/// Named references use the full HTML5 set (`HTMLEntities+Table.swift`).
enum HTMLEntities {
    /// Name (with its `;`, or without for the legacy names) -> replacement.
    static let named: [String: [Unicode.Scalar]] = {
        var names: [String: [Unicode.Scalar]] = [:]
        names.reserveCapacity(2300)
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            let value = fields[1].split(separator: " ").map { Unicode.Scalar(UInt32($0, radix: 16)!)! }
            names[String(fields[0])] = value
        }
        return names
    }()

    /// Longest name in the table, without `&`.
    static let longestName = 32

    // MARK: Python html.unescape

    /// Python's `html.unescape`: every match of
    /// `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` is replaced.
    static func pythonUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        replacingReferences(in: text, pythonReference)
    }

    /// `text` with each `&` at which `reference` matches replaced; `reference` gives the
    /// replacement and the index after the match.
    private static func replacingReferences(
        in text: [Unicode.Scalar],
        _ reference: ([Unicode.Scalar], Int) -> ([Unicode.Scalar], Int)?
    ) -> [Unicode.Scalar] {
        guard text.contains("&") else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if text[i] == "&", let (replacement, end) = reference(text, i) {
                out.append(contentsOf: replacement)
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// The replacement for the reference starting at `start` (an `&`) and the index after it,
    /// or nil where the pattern does not match.
    private static func pythonReference(_ text: [Unicode.Scalar], at start: Int) -> ([Unicode.Scalar], Int)? {
        var i = start + 1
        guard i < text.count else { return nil }
        if text[i] == "#" {
            i += 1
            var hex = false
            if i < text.count, text[i] == "x" || text[i] == "X" {
                hex = true
                i += 1
            }
            let digitsStart = i
            while i < text.count, isDigit(text[i], hex: hex) { i += 1 }
            if i == digitsStart {
                // `&#x` without hex digits: the decimal alternative cannot match either.
                return nil
            }
            let value = parseNumber(text[digitsStart..<i], hex: hex)
            if i < text.count, text[i] == ";" { i += 1 }
            return (numericReplacement(value), i)
        }
        var end = i
        while end < text.count, end - i < longestName, !isNameTerminator(text[end]) { end += 1 }
        guard end > i else { return nil }
        if end < text.count, text[end] == ";" { end += 1 }
        let name = String(String.UnicodeScalarView(text[i..<end]))
        if let value = named[name] { return (value, end) }
        // The longest legacy name (accepted without `;`) that prefixes the run, at least 2 long.
        let scalars = Array(text[i..<end])
        var length = scalars.count - 1
        while length > 1 {
            if let value = named[String(String.UnicodeScalarView(scalars[0..<length]))] {
                return (value + scalars[length...], end)
            }
            length -= 1
        }
        return nil
    }

    private static func isNameTerminator(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\u{0C}" || s == " " || s == "<" || s == "&" || s == "#" || s == ";"
    }

    private static func isDigit(_ s: Unicode.Scalar, hex: Bool) -> Bool {
        switch s.value {
        case 0x30...0x39: return true
        case 0x41...0x46, 0x61...0x66: return hex
        default: return false
        }
    }

    /// Saturates: any value past U+10FFFF is replaced alike, however many digits it has.
    private static func parseNumber(_ digits: ArraySlice<Unicode.Scalar>, hex: Bool) -> UInt32 {
        var value: UInt32 = 0
        for digit in digits {
            let d = UInt32(hex ? Int(String(Character(digit)), radix: 16)! : Int(digit.value - 0x30))
            value = value > 0x11_0000 ? value : value * (hex ? 16 : 10) + d
        }
        return value
    }

    /// WHATWG's rules for numeric references, as Python applies them.
    private static func numericReplacement(_ value: UInt32) -> [Unicode.Scalar] {
        if value == 0 { return ["\u{FFFD}"] }
        if value == 0x0D { return ["\r"] }
        if (0x80...0x9F).contains(value) { return [SingleByteCodec.sloppyWindows1252.scalars[Int(value)]] }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return ["\u{FFFD}"] }
        if isInvalidCodePoint(value) { return [] }
        return [Unicode.Scalar(value)!]
    }

    private static func isInvalidCodePoint(_ value: UInt32) -> Bool {
        switch value {
        case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F...0x9F, 0xFDD0...0xFDEF: return true
        default: return value & 0xFFFE == 0xFFFE
        }
    }

    // MARK: ftfy unescape_html

    /// ftfy's `unescape_html`: only `&name;` / `&#digits;` with 1...24 ASCII alphanumerics and a
    /// closing `;`. Named ones decode when HTML5 names them with `;`, or when they are the
    /// all-caps spelling of a lowercase name that is not itself a valid reference
    /// (`&EACUTE;` -> É); numeric ones when Python decodes the whole reference.
    static func ftfyUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        replacingReferences(in: text, ftfyReference)
    }

    private static func ftfyReference(_ text: [Unicode.Scalar], at start: Int) -> ([Unicode.Scalar], Int)? {
        var i = start + 1
        let numeric = i < text.count && text[i] == "#"
        if numeric { i += 1 }
        let nameStart = i
        while i < text.count, i - nameStart < 24, isASCIIAlphanumeric(text[i]) { i += 1 }
        guard i > nameStart, i < text.count, text[i] == ";" else { return nil }
        let end = i + 1
        let reference = Array(text[start..<end])
        if numeric {
            let decoded = pythonUnescape(reference)
            return decoded.contains(";") ? nil : (decoded, end)
        }
        let name = String(String.UnicodeScalarView(text[nameStart..<end]))
        if let value = named[name] { return (value, end) }
        let lower = name.lowercased()
        if name == lower.uppercased(), let value = named[lower],
           pythonUnescape(reference) == reference
        {
            let upper = String(String.UnicodeScalarView(value)).uppercased()
            return (Array(upper.unicodeScalars), end)
        }
        return nil
    }

    private static func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }
}
