/// Byte-level BPE on vocabulary ids: one word's UTF-8 bytes in, its token ids out.
///
/// The word starts as one symbol per byte, the last one carrying the `</w>` end-of-word marker;
/// then, as in CLIP, the adjacent pair with the lowest merge rank is merged everywhere
/// (left to right, non-overlapping) until no adjacent pair has a rank. Symbols are vocabulary
/// ids, not strings, so a merge is one dictionary lookup of a packed id pair.
///
/// CLIP's own loop rescans the word once per merge applied, O(n²) on one long word of many
/// distinct pairs (120 000 letters took 11 s). Words longer than `roundsUpToBytes` go through
/// a queue of candidate pairs ordered by rank, then position: O(n log n), the same ids. The
/// queue is exact only when every merge that uses a token ranks after every merge that makes
/// it (a pair born from a merge then never outranks the merge being applied, so each rank's
/// occurrences are merged left to right before any later rank, as the loop does). BPE training
/// produces such lists, CLIP's among them; a list that breaks the rule gets the loop alone.
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
    /// Whether `merges` keeps the rule that makes the ranked queue exact (see the type's comment).
    let ranksFollowCreation: Bool

    /// Up to this many bytes a word is merged by CLIP's loop, which allocates less; a word this
    /// short costs at most a few thousand lookups either way.
    static let roundsUpToBytes = 64

    init(byteIds: [Int32], byteEndIds: [Int32], merges: [UInt64: Merge]) {
        self.byteIds = byteIds
        self.byteEndIds = byteEndIds
        self.merges = merges
        ranksFollowCreation = Self.ranksFollowCreation(merges)
    }

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Whether each token's latest-ranked making merge ranks before its earliest-ranked use.
    static func ranksFollowCreation(_ merges: [UInt64: Merge]) -> Bool {
        var latestMade: [Int32: Int32] = [:]
        var earliestUse: [Int32: Int32] = [:]
        for (key, merge) in merges {
            latestMade[merge.result] = max(latestMade[merge.result] ?? -1, merge.rank)
            for token in [Int32(truncatingIfNeeded: key >> 32), Int32(truncatingIfNeeded: key)] {
                earliestUse[token] = min(earliestUse[token] ?? .max, merge.rank)
            }
        }
        return latestMade.allSatisfy { token, made in made < earliestUse[token] ?? .max }
    }

    func encode(_ bytes: [UInt8], into output: inout [Int]) {
        if bytes.count <= Self.roundsUpToBytes || !ranksFollowCreation {
            encodeByRounds(bytes, into: &output)
        } else {
            encodeByQueue(bytes, into: &output)
        }
    }

    /// The word's first symbols: one per byte, the last with `</w>`.
    private func symbols(_ bytes: [UInt8]) -> [Int32] {
        var word = bytes.map { byteIds[Int($0)] }
        word[word.count - 1] = byteEndIds[Int(bytes[bytes.count - 1])]
        return word
    }

    /// CLIP's loop: find the lowest-ranked adjacent pair, merge it everywhere, repeat.
    func encodeByRounds(_ bytes: [UInt8], into output: inout [Int]) {
        guard !bytes.isEmpty else { return }
        var word = symbols(bytes)
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

    /// The same merges from a queue of (rank, position) candidates over a linked list of
    /// symbols. A symbol keeps the position of its first byte; a merge keeps the left symbol and
    /// retires the right one (`retired`). A candidate is checked when it leaves the queue: its
    /// pair must still be adjacent with that rank, else a later merge has changed it.
    func encodeByQueue(_ bytes: [UInt8], into output: inout [Int]) {
        guard !bytes.isEmpty else { return }
        let count = bytes.count
        precondition(count < Int(UInt32.max), "a word of \(count) bytes")
        let retired: Int32 = -1
        var symbol = symbols(bytes)
        // Neighbours by position; `count` past the end, -1 before the start.
        var next = (0..<count).map { Int32($0 + 1) }
        var previous = (0..<count).map { Int32($0 - 1) }
        var queue = MinQueue()
        queue.reserveCapacity(count)

        @inline(__always) func rank(_ left: Int, _ right: Int) -> Int32? {
            merges[Self.pairKey(symbol[left], symbol[right])]?.rank
        }
        @inline(__always) func candidate(_ rank: Int32, _ position: Int) -> UInt64 {
            UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(position)
        }
        for i in 0..<(count - 1) {
            if let r = rank(i, i + 1) { queue.push(candidate(r, i)) }
        }
        while let top = queue.pop() {
            let wanted = Int32(truncatingIfNeeded: top >> 32), left = Int(top & 0xFFFF_FFFF)
            guard symbol[left] != retired else { continue }
            let right = Int(next[left])
            guard right < count, let merge = merges[Self.pairKey(symbol[left], symbol[right])], merge.rank == wanted else { continue }
            symbol[left] = merge.result
            symbol[right] = retired
            let after = Int(next[right])
            next[left] = Int32(after)
            if after < count { previous[after] = Int32(left) }
            let before = Int(previous[left])
            if before >= 0, let r = rank(before, left) { queue.push(candidate(r, before)) }
            if after < count, let r = rank(left, after) { queue.push(candidate(r, left)) }
        }
        var i = 0
        while i < count {
            output.append(Int(symbol[i]))
            i = Int(next[i])
        }
    }
}

/// A binary min-heap of packed (rank, position) candidates.
private struct MinQueue {
    private var items: [UInt64] = []

    mutating func reserveCapacity(_ n: Int) { items.reserveCapacity(n) }

    mutating func push(_ value: UInt64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { break }
            let right = left + 1
            let smaller = right < items.count && items[right] < items[left] ? right : left
            guard items[smaller] < items[parent] else { break }
            items.swapAt(smaller, parent)
            parent = smaller
        }
        return top
    }
}
