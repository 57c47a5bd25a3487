/// What `JSONEncoder` writes for a value, for the places that write or count JSON without it
/// (a classify answer, a history point's price). Tests hold both against the encoder.
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
