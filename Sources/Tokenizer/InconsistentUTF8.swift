/// ftfy's `decode_inconsistent_utf8`: mojibake inside a line that is otherwise correct
/// (`naïve cafÃ©`), found by UTF8_DETECTOR_RE and repaired piece by piece.
///
/// A piece is one or more sequences of a character that a UTF-8 lead byte becomes in one of
/// ftfy's code pages followed by as many that continuation bytes become, not right after a
/// "strict" continuation character. A piece shorter than the text that `Badness` finds bad is
/// replaced by `TextFixer.fixEncoding` of it. Classes: `FtfyTables.swift`.
enum InconsistentUTF8 {
    static func decode(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let end = i > 0 && CodePointRanges.contains(strictContinuation, text[i - 1].value) ? i : pieceEnd(text, from: i)
            guard end > i else {
                out.append(text[i])
                i += 1
                continue
            }
            let piece = text[i..<end]
            if piece.count < text.count, Badness.isBad(piece) {
                out.append(contentsOf: TextFixer.fixEncoding(Array(piece)))
            } else {
                out.append(contentsOf: piece)
            }
            i = end
        }
        return out
    }

    /// The end of the greedy `(lead2 cont | lead3 cont{2} | lead4 cont{3})+` from `start`, or
    /// `start`; each repetition takes the first alternative that matches, as `re` does when
    /// nothing follows the group.
    private static func pieceEnd(_ text: [Unicode.Scalar], from start: Int) -> Int {
        var end = start
        while let next = sequenceEnd(text, at: end) { end = next }
        return end
    }

    private static func sequenceEnd(_ text: [Unicode.Scalar], at position: Int) -> Int? {
        guard position < text.count else { return nil }
        let lead = text[position].value
        for (leads, continuations) in [(leadOf2, 1), (leadOf3, 2), (leadOf4, 3)] where CodePointRanges.contains(leads, lead) {
            let last = position + continuations
            if last < text.count,
               text[(position + 1)...last].allSatisfy({ CodePointRanges.contains(continuation, $0.value) }) {
                return last + 1
            }
        }
        return nil
    }
}
