/// CLIP's pre-tokenisation: the words BPE then runs on, one at a time.
///
/// It reproduces, without a regex engine, Python `regex`'s `findall` of
/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// with IGNORECASE: at each position the first alternative that matches wins, and positions
/// that match none (whitespace) are skipped. Code points, not grapheme clusters, are the unit,
/// as in Python: an emoji ZWJ sequence is one run of "other" scalars, a combining mark after a
/// letter ends the letter run.
enum PreTokenizer {
    enum ScalarClass: Equatable, Sendable {
        /// `[\p{L}]`: a run of these is one word.
        case letter
        /// `[\p{N}]`: each one is its own word.
        case number
        /// `[^\s\p{L}\p{N}]`: a run of these is one word.
        case other
        /// Matches none of the classes: whitespace, and U+0345, which IGNORECASE removes from the
        /// negated class because its case partner (U+0399) is a letter, while `[\p{L}]` rejects it.
        case skipped
    }

    /// The class `regex` (with IGNORECASE) gives the scalar, from `UnicodeTables.swift`.
    static func scalarClass(_ scalar: Unicode.Scalar) -> ScalarClass {
        switch classKinds[CodePointRanges.run(classStarts, containing: scalar.value)] {
        case 0: .letter
        case 1: .number
        case 2: .other
        default: .skipped
        }
    }

    static let specialTokens = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }
    /// The letters after the apostrophe, longest-first is not needed: no two share a prefix.
    private static let contractions = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    /// Calls `body` with each word's scalar range and, for a special token, its index in
    /// `specialTokens`. `body` returns false to stop early.
    static func forEachWord(
        in scalars: [Unicode.Scalar],
        _ body: (Range<Int>, _ special: Int?) -> Bool
    ) {
        var i = 0
        let n = scalars.count
        while i < n {
            if let (length, index) = matchSpecial(scalars, at: i) {
                if !body(i..<(i + length), index) { return }
                i += length
                continue
            }
            if scalars[i] == "'", let length = matchContraction(scalars, at: i) {
                if !body(i..<(i + length), nil) { return }
                i += length
                continue
            }
            let kind = scalarClass(scalars[i])
            switch kind {
            case .skipped:
                i += 1
            case .number:
                if !body(i..<(i + 1), nil) { return }
                i += 1
            case .letter, .other:
                var end = i + 1
                while end < n, scalarClass(scalars[end]) == kind { end += 1 }
                if !body(i..<end, nil) { return }
                i = end
            }
        }
    }

    private static func matchSpecial(_ scalars: [Unicode.Scalar], at start: Int) -> (Int, Int)? {
        guard scalars[start] == "<" else { return nil }
        for (index, token) in specialTokens.enumerated() where matches(token, scalars, at: start) {
            return (token.count, index)
        }
        return nil
    }

    private static func matchContraction(_ scalars: [Unicode.Scalar], at start: Int) -> Int? {
        for suffix in contractions where matches(suffix, scalars, at: start + 1) {
            return suffix.count + 1
        }
        return nil
    }

    /// Case-insensitive match of an ASCII pattern, as Python `regex` IGNORECASE does it
    /// (simple case folding: `ſ` U+017F matches `s`, `K` U+212A matches `k`).
    private static func matches(_ pattern: [Unicode.Scalar], _ scalars: [Unicode.Scalar], at start: Int) -> Bool {
        guard start + pattern.count <= scalars.count else { return false }
        for (offset, expected) in pattern.enumerated() {
            let actual = scalars[start + offset]
            if actual == expected { continue }
            let folded: UInt32
            switch actual.value {
            case 0x41...0x5A: folded = actual.value + 0x20
            case 0x17F: folded = 0x73
            case 0x212A: folded = 0x6B
            default: return false
            }
            if folded != expected.value { return false }
        }
        return true
    }
}
