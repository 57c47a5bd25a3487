/// Lookups in the generated tables of `FtfyTables.swift` and `UnicodeTables.swift`.
enum CodePointRanges {
    /// Whether `value` lies in one of the inclusive ranges `[lo0, hi0, lo1, hi1, ...]` (sorted).
    static func contains(_ ranges: [UInt32], _ value: UInt32) -> Bool {
        var low = 0
        var high = ranges.count / 2
        while low < high {
            let mid = (low + high) / 2
            if ranges[2 * mid + 1] < value {
                low = mid + 1
            } else if ranges[2 * mid] > value {
                high = mid
            } else {
                return true
            }
        }
        return false
    }

    /// The index of the last element of the sorted `starts` that is at most `value`.
    static func run(_ starts: [UInt32], containing value: UInt32) -> Int {
        var low = 0
        var high = starts.count
        while high - low > 1 {
            let mid = (low + high) / 2
            if starts[mid] <= value { low = mid } else { high = mid }
        }
        return low
    }

    /// A map from a flat table `key, replacement scalars..., 0, key, ...`.
    static func replacementMap(_ flat: [UInt32]) -> [UInt32: [Unicode.Scalar]] {
        var map: [UInt32: [Unicode.Scalar]] = [:]
        var i = 0
        while i < flat.count {
            let key = flat[i]
            var j = i + 1
            var replacement: [Unicode.Scalar] = []
            while flat[j] != 0 {
                replacement.append(Unicode.Scalar(flat[j])!)
                j += 1
            }
            map[key] = replacement
            i = j + 1
        }
        return map
    }
}
