/// The Python `str` and `regex` operations CLIP's clean-up calls, with Python's exact semantics
/// and Python's Unicode data (`UnicodeTables.swift`, generated from the pinned Python and regex).
enum PythonText {
    /// `str.isspace()` (also Python `re`'s `\s`): it includes U+001C...U+001F, which `regex`'s
    /// `\s` does not.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        CodePointRanges.contains(spaceRanges, scalar.value)
    }

    /// Python `re`'s `\w`: `str.isalnum()` or `_`.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || CodePointRanges.contains(alnumRanges, scalar.value)
    }

    /// Python `re`'s `\d`: `str.isdecimal()`.
    static func isDecimal(_ scalar: Unicode.Scalar) -> Bool {
        CodePointRanges.contains(decimalRanges, scalar.value)
    }

    /// The `regex` module's `\s` (Unicode White_Space).
    static func isRegexSpace(_ scalar: Unicode.Scalar) -> Bool {
        CodePointRanges.contains(regexSpaceRanges, scalar.value)
    }

    /// `str.strip()`.
    static func strip(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard let first = text.firstIndex(where: { !isSpace($0) }) else { return [] }
        let last = text.lastIndex(where: { !isSpace($0) })!
        return Array(text[first...last])
    }

    /// CLIP's `whitespace_clean`: `regex.sub(r"\s+", " ", text).strip()`.
    static func collapseWhitespace(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var inSpace = false
        for scalar in text {
            if isRegexSpace(scalar) {
                if !inSpace { out.append(" ") }
                inSpace = true
            } else {
                out.append(scalar)
                inSpace = false
            }
        }
        return strip(out)
    }

    private static let lowerMap: [UInt32: Unicode.Scalar] = {
        var map: [UInt32: Unicode.Scalar] = [:]
        map.reserveCapacity(lowerKeys.count)
        for (key, value) in zip(lowerKeys, lowerValues) { map[key] = Unicode.Scalar(value)! }
        return map
    }()

    /// `str.lower()`: Python's full lowercase mappings (İ -> i + U+0307), and capital sigma
    /// becomes final sigma ς when it ends a word (a cased letter before it, none after it,
    /// skipping case-ignorable scalars such as apostrophes), as CPython decides it.
    static func lowercased(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for (i, scalar) in text.enumerated() {
            if scalar.isASCII {
                out.append((0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 0x20)! : scalar)
            } else if scalar == "\u{03A3}" {
                out.append(isFinalSigma(text, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else if scalar == "\u{0130}" {
                out.append(contentsOf: ["i", "\u{0307}"])
            } else {
                out.append(lowerMap[scalar.value] ?? scalar)
            }
        }
        return out
    }

    private static func isCaseIgnorable(_ scalar: Unicode.Scalar) -> Bool {
        CodePointRanges.contains(caseIgnorableRanges, scalar.value)
    }

    private static func isFinalSigma(_ text: [Unicode.Scalar], at index: Int) -> Bool {
        var j = index - 1
        while j >= 0, isCaseIgnorable(text[j]) { j -= 1 }
        guard j >= 0, CodePointRanges.contains(casedRanges, text[j].value) else { return false }
        j = index + 1
        while j < text.count, isCaseIgnorable(text[j]) { j += 1 }
        return j == text.count || !CodePointRanges.contains(casedRanges, text[j].value)
    }
}
