/// ftfy's `is_bad`: whether its BADNESS_RE matches anywhere in the text, the heuristic that
/// decides whether a line is mojibake worth re-decoding.
///
/// The pattern is a list of alternatives of single-character elements (`FtfyTables.swift`,
/// generated from the pinned ftfy), so a search is: some alternative matches at some position.
enum Badness {
    enum Element: Sendable {
        /// One character of set `i`.
        case set(Int)
        /// Zero or one character of set `i`.
        case optional(Int)
        /// Python's `.`: any character but a newline.
        case anyButNewline
        /// `^`: the start of the text.
        case start
    }

    /// A character set of the pattern: its listed code points (bits in `setMasks*`), plus Python
    /// `re`'s `\s` / `\w` where it includes them, possibly negated.
    struct CharacterSet: Sendable {
        let pythonSpace: Bool
        let pythonWord: Bool
        let negated: Bool
    }

    private static let memberMasks: [UInt32: (low: UInt64, high: UInt64)] = {
        var map: [UInt32: (low: UInt64, high: UInt64)] = [:]
        map.reserveCapacity(setMembers.count)
        for (index, member) in setMembers.enumerated() { map[member] = (setMasksLow[index], setMasksHigh[index]) }
        return map
    }()

    static func isBad(_ text: ArraySlice<Unicode.Scalar>) -> Bool {
        let text = Array(text)
        let masks = text.map { memberMasks[$0.value] ?? (0, 0) }
        for position in text.indices {
            for alternative in alternatives where matches(alternative, 0, at: position, text, masks) {
                return true
            }
        }
        return false
    }

    private static func matches(
        _ alternative: [Element], _ element: Int, at position: Int,
        _ text: [Unicode.Scalar], _ masks: [(low: UInt64, high: UInt64)]
    ) -> Bool {
        guard element < alternative.count else { return true }
        let next = element + 1
        switch alternative[element] {
        case .start:
            return position == 0 && matches(alternative, next, at: position, text, masks)
        case .anyButNewline:
            return position < text.count && text[position] != "\n" && matches(alternative, next, at: position + 1, text, masks)
        case .set(let id):
            return position < text.count && isMember(id, text[position], masks[position])
                && matches(alternative, next, at: position + 1, text, masks)
        case .optional(let id):
            if position < text.count, isMember(id, text[position], masks[position]),
               matches(alternative, next, at: position + 1, text, masks) {
                return true
            }
            return matches(alternative, next, at: position, text, masks)
        }
    }

    private static func isMember(_ id: Int, _ scalar: Unicode.Scalar, _ mask: (low: UInt64, high: UInt64)) -> Bool {
        let set = sets[id]
        let listed = id < 64 ? (mask.low >> UInt64(id)) & 1 == 1 : (mask.high >> UInt64(id - 64)) & 1 == 1
        let member = listed
            || (set.pythonSpace && PythonText.isSpace(scalar))
            || (set.pythonWord && PythonText.isWordCharacter(scalar))
        return member != set.negated
    }
}
