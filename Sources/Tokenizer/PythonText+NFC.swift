extension PythonText {
    /// `unicodedata.normalize("NFC", text)` with Python's Unicode data (`UnicodeTables.swift`):
    /// full canonical decomposition, canonical ordering, canonical composition (UAX #15).
    /// Not Foundation's `precomposedStringWithCanonicalMapping`, which on Linux composes a
    /// supplementary-plane letter with a following mark as if it were the BMP letter with the same
    /// low 16 bits (U+10041 U+0301 -> Á), and follows Swift's Unicode version rather than Python's.
    static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Below U+0300 every scalar is already NFC and none composes with its neighbour.
        guard text.contains(where: { $0.value >= 0x300 }) else { return text }
        return compose(canonicallyOrdered(decompose(text)))
    }

    private static let hangulBase: UInt32 = 0xAC00, leadBase: UInt32 = 0x1100, vowelBase: UInt32 = 0x1161
    private static let trailBase: UInt32 = 0x11A7, vowelCount: UInt32 = 21, trailCount: UInt32 = 28
    private static let syllableCount: UInt32 = 11172, leadCount: UInt32 = 19

    private static let combiningClasses: [UInt32: UInt8] = Dictionary(
        uniqueKeysWithValues: zip(combiningClassKeys, combiningClassValues))

    private static let decompositions: [UInt32: [UInt32]] = {
        var map: [UInt32: [UInt32]] = [:]
        for (key, scalars) in CodePointRanges.replacementMap(decompositionTable) { map[key] = scalars.map(\.value) }
        return map
    }()

    private static let compositions: [UInt64: UInt32] = {
        var map: [UInt64: UInt32] = [:]
        for i in stride(from: 0, to: compositionTable.count, by: 3) {
            map[UInt64(compositionTable[i]) << 32 | UInt64(compositionTable[i + 1])] = compositionTable[i + 2]
        }
        return map
    }()

    private static func combiningClass(_ value: UInt32) -> UInt8 { combiningClasses[value] ?? 0 }

    private static func decompose(_ text: [Unicode.Scalar]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(text.count + 8)
        for scalar in text {
            let value = scalar.value
            if value >= hangulBase, value < hangulBase + syllableCount {
                let index = value - hangulBase
                out.append(leadBase + index / (vowelCount * trailCount))
                out.append(vowelBase + (index % (vowelCount * trailCount)) / trailCount)
                if index % trailCount != 0 { out.append(trailBase + index % trailCount) }
            } else if let decomposed = decompositions[value] {
                out.append(contentsOf: decomposed)
            } else {
                out.append(value)
            }
        }
        return out
    }

    /// Each run of non-starters sorted by combining class, stably.
    private static func canonicallyOrdered(_ values: [UInt32]) -> [UInt32] {
        var values = values
        var i = 0
        while i < values.count {
            guard combiningClass(values[i]) != 0 else { i += 1; continue }
            var end = i
            while end < values.count, combiningClass(values[end]) != 0 { end += 1 }
            if end - i > 1 {
                let run = values[i..<end].enumerated().sorted {
                    (combiningClass($0.element), $0.offset) < (combiningClass($1.element), $1.offset)
                }
                values.replaceSubrange(i..<end, with: run.map(\.element))
            }
            i = end
        }
        return values
    }

    private static func composePair(_ first: UInt32, _ second: UInt32) -> UInt32? {
        if first >= leadBase, first < leadBase + leadCount, second >= vowelBase, second < vowelBase + vowelCount {
            return hangulBase + ((first - leadBase) * vowelCount + (second - vowelBase)) * trailCount
        }
        if first >= hangulBase, first < hangulBase + syllableCount, (first - hangulBase) % trailCount == 0,
           second > trailBase, second < trailBase + trailCount {
            return first + (second - trailBase)
        }
        return compositions[UInt64(first) << 32 | UInt64(second)]
    }

    /// UAX #15's canonical composition: a character joins the last starter when nothing between
    /// them blocks it (a character of the same or a higher class, or a starter).
    private static func compose(_ values: [UInt32]) -> [Unicode.Scalar] {
        guard let first = values.first else { return [] }
        var out: [UInt32] = [first]
        out.reserveCapacity(values.count)
        var starter = 0
        var lastClass: Int = combiningClass(first) == 0 ? 0 : 256
        for value in values.dropFirst() {
            let valueClass = Int(combiningClass(value))
            if lastClass < valueClass || lastClass == 0, let composite = composePair(out[starter], value) {
                out[starter] = composite
                continue
            }
            if valueClass == 0 { starter = out.count }
            lastClass = valueClass
            out.append(value)
        }
        return out.map { Unicode.Scalar($0)! }
    }
}
