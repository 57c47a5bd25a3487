/// ftfy's `decode_inconsistent_utf8`: mojibake inside a line that is otherwise correct
/// (`naïve cafÃ©`, `😀 doesnâ€™t`), which the whole-line repair cannot decode.
///
/// A fragment is one or more runs of a character that a UTF-8 lead byte becomes in a single-byte
/// code page followed by as many characters that continuation bytes become (or spaces, which may
/// have been byte A0), not right after another continuation character (so that a few characters
/// of a longer garble are not "fixed" alone). Each fragment shorter than the whole text is
/// repaired on its own by `TextFixer.fixEncoding`, which decides, as ftfy's badness test does
/// there, whether it really is mojibake.
enum MojibakeClues {
    static func fixFragments(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let end = i > 0 && strictContinuation.contains(text[i - 1].value) ? i : fragmentEnd(text, from: i)
            if end > i {
                let fragment = Array(text[i..<end])
                out.append(contentsOf: fragment.count < text.count ? TextFixer.fixEncoding(fragment) : fragment)
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// The end of the longest run of lead + continuations starting at `start`, or `start`.
    private static func fragmentEnd(_ text: [Unicode.Scalar], from start: Int) -> Int {
        var end = start
        while end < text.count {
            let lead = text[end].value
            let continuations = leadOf2.contains(lead) ? 1 : leadOf3.contains(lead) ? 2 : leadOf4.contains(lead) ? 3 : 0
            guard continuations > 0, end + continuations < text.count,
                  text[(end + 1)...(end + continuations)].allSatisfy({ continuation.contains($0.value) })
            else { break }
            end += continuations + 1
        }
        return end
    }
}
