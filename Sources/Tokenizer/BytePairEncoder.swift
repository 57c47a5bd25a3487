/// Byte-level BPE on vocabulary ids: one word's UTF-8 bytes in, its token ids out.
///
/// The word starts as one symbol per byte, the last one carrying the `</w>` end-of-word marker;
/// then, as in CLIP, the adjacent pair with the lowest merge rank is merged everywhere
/// (left to right, non-overlapping) until no adjacent pair has a rank. Symbols are vocabulary
/// ids, not strings, so a merge is one dictionary lookup of a packed id pair.
struct BytePairEncoder: Sendable {
    struct Merge: Sendable {
        var rank: Int32
        var result: Int32
    }

    /// Id of each byte's symbol, and of the same symbol with `</w>` appended.
    let byteIds: [Int32]
    let byteEndIds: [Int32]
    /// Keyed by `pairKey(left, right)`.
    let merges: [UInt64: Merge]

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    func encode(_ bytes: [UInt8], into output: inout [Int]) {
        guard let lastByte = bytes.last else { return }
        var word = bytes.map { byteIds[Int($0)] }
        word[word.count - 1] = byteEndIds[Int(lastByte)]

        var merged: [Int32] = []
        merged.reserveCapacity(word.count)
        while word.count > 1 {
            var best: Merge?
            var bestPair: (Int32, Int32) = (0, 0)
            for i in 0..<(word.count - 1) {
                if let merge = merges[Self.pairKey(word[i], word[i + 1])], merge.rank < (best?.rank ?? .max) {
                    best = merge
                    bestPair = (word[i], word[i + 1])
                }
            }
            guard let best else { break }
            merged.removeAll(keepingCapacity: true)
            var i = 0
            while i < word.count {
                if i + 1 < word.count, word[i] == bestPair.0, word[i + 1] == bestPair.1 {
                    merged.append(best.result)
                    i += 2
                } else {
                    merged.append(word[i])
                    i += 1
                }
            }
            swap(&word, &merged)
        }
        for id in word { output.append(Int(id)) }
    }
}
