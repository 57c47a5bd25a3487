import Foundation

/// What `JSONEncoder` writes for a value, for the places that write JSON without it (a classify
/// answer, the stream history's entries). Tests hold each of those against the encoder.
enum JSONText {
    /// A finite Float as the encoder writes it: its description, an integral one without ".0".
    /// Nil for a non-finite value, which the encoder refuses.
    static func float(_ value: Float) -> String? {
        guard value.isFinite else { return nil }
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// Whether the encoder writes `text` between quotes as it is: no quote, backslash, slash
    /// (escaped by default) or control character.
    static func isVerbatim(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "/") }
    }
}

/// JSON text appended piece by piece, each value as `JSONEncoder` writes it; the caller writes
/// the structure (keys in sorted order, as `.sortedKeys` does).
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) { text.withUTF8Buffer { bytes.append(contentsOf: $0) } }
    mutating func integer<N: BinaryInteger>(_ value: N) { bytes.append(contentsOf: String(value).utf8) }
    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    /// False for a non-finite value (nothing written).
    mutating func float(_ value: Float) -> Bool {
        guard let text = JSONText.float(value) else { return false }
        bytes.append(contentsOf: text.utf8)
        return true
    }

    /// Any string: verbatim between quotes where the encoder leaves it so, else as the encoder
    /// escapes it.
    mutating func string(_ text: String, encoder: JSONEncoder) {
        if JSONText.isVerbatim(text) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: text.utf8)
            bytes.append(UInt8(ascii: "\""))
        } else if let escaped = try? encoder.encode(text) {  // a String always encodes
            bytes.append(contentsOf: escaped)
        }
    }
}
