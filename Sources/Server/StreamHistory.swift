import Adaptation
import Foundation
import RadaNumerics

/// A stream's recent past, for people watching it adapt: one point per request (how sure the
/// stream was, what it predicted, whether it stepped) and a mark per reset, restore and
/// checkpoint. A ring bounded in bytes, kept with the stream's state: snapshots carry it (as
/// JSON in the snapshot's metadata) and journal replay regenerates the points after the
/// snapshot from the same records, so it survives restarts, kill -9 and eviction on any store.
struct StreamHistory: Sendable, Equatable {
    /// What one entry is.
    enum Kind: String, Codable, Sendable {
        case request, reset, restore, checkpoint
    }

    /// Why a request took fewer optimiser steps than its policy asks.
    enum Skip: String, Codable, Sendable {
        /// The request asked not to adapt (`adapt=false`).
        case notRequested
        /// The confidence filter kept no sample.
        case filtered
    }

    /// One entry, as stored and as served (`GET /v1/streams/{id}/history`).
    struct Entry: Codable, Sendable, Equatable {
        /// Increases by one per entry over the stream's life (a reset does not restart it).
        var seq: Int
        /// Milliseconds since 1970-01-01 UTC.
        var time: Int64
        var kind: Kind
        // Requests only:
        var images: Int?
        /// Mean per-image prediction entropy (nats) and mean top-1 probability.
        var meanEntropy: Float?
        var meanConfidence: Float?
        /// Predicted classes: pairs [class index, images], by index; only classes predicted.
        var classes: [ClassCount]?
        var adapted: Bool?
        var steps: Int?
        var skipped: Skip?
        var automaticReset: Bool?
        // Checkpoint and restore marks: the checkpoint's name.
        var checkpoint: String?
    }

    /// One class of a request's predictions, stored and served as `[index, images]`.
    struct ClassCount: Codable, Sendable, Equatable {
        var index: Int32
        var count: Int32

        init(index: Int32, count: Int32) {
            self.index = index
            self.count = count
        }

        init(from decoder: any Decoder) throws {
            var pair = try decoder.unkeyedContainer()
            index = try pair.decode(Int32.self)
            count = try pair.decode(Int32.self)
            guard pair.isAtEnd else { throw DecodingError.dataCorruptedError(in: pair, debugDescription: "a class count is [index, images]") }
        }

        func encode(to encoder: any Encoder) throws {
            var pair = encoder.unkeyedContainer()
            try pair.encode(index)
            try pair.encode(count)
        }
    }

    /// Bytes of the stored form (the JSON array of entries) the ring may hold; the oldest entries
    /// go first. Each entry is also counted at its in-memory size when that is larger, so the
    /// bound holds for memory too.
    static let defaultBudgetBytes = 64 * 1024

    private(set) var entries: [Entry] = []
    /// The `seq` the next entry gets.
    private(set) var nextSeq = 1
    private(set) var usedBytes = 2
    let budgetBytes: Int
    private var costs: [Int] = []

    init(budgetBytes: Int = StreamHistory.defaultBudgetBytes) {
        self.budgetBytes = budgetBytes
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// What an entry costs: its JSON plus a separating comma, or its memory if larger.
    static func cost(_ entry: Entry) -> Int {
        // Nil only for a non-finite number, which `JSONEncoder` refuses as well.
        let json = (jsonLength(entry) ?? 0) + 1
        let memory = MemoryLayout<Entry>.stride + (entry.checkpoint?.utf8.count ?? 0)
            + (entry.classes.map { 32 + $0.count * MemoryLayout<ClassCount>.stride } ?? 0)
        return max(json, memory)
    }

    /// The length of `entry`'s JSON as `encoder` writes it: every request prices one entry, and
    /// `JSONEncoder` took about 40 µs of a 2 ms request. Nil where `json` is.
    static func jsonLength(_ entry: Entry) -> Int? { json(entry)?.count }

    /// `entry`'s JSON as `encoder` writes it (sorted keys, absent fields left out), written
    /// directly. Nil for a non-finite number, which the encoder refuses.
    static func json(_ entry: Entry) -> [UInt8]? {
        var out = JSONWriter(capacity: 160 + 16 * (entry.classes?.count ?? 0))
        var first = true
        func key(_ name: StaticString) {
            out.raw(first ? "{\"" : ",\"")
            first = false
            out.raw(name)
            out.raw("\":")
        }
        if let adapted = entry.adapted { key("adapted"); out.bool(adapted) }
        if let automaticReset = entry.automaticReset { key("automaticReset"); out.bool(automaticReset) }
        if let checkpoint = entry.checkpoint { key("checkpoint"); out.string(checkpoint, encoder: encoder) }
        if let classes = entry.classes {
            key("classes")
            out.raw("[")
            for (i, pair) in classes.enumerated() {
                out.raw(i > 0 ? ",[" : "[")
                out.integer(pair.index)
                out.raw(",")
                out.integer(pair.count)
                out.raw("]")
            }
            out.raw("]")
        }
        if let images = entry.images { key("images"); out.integer(images) }
        key("kind"); out.string(entry.kind.rawValue, encoder: encoder)
        if let meanConfidence = entry.meanConfidence { key("meanConfidence"); guard out.float(meanConfidence) else { return nil } }
        if let meanEntropy = entry.meanEntropy { key("meanEntropy"); guard out.float(meanEntropy) else { return nil } }
        key("seq"); out.integer(entry.seq)
        if let skipped = entry.skipped { key("skipped"); out.string(skipped.rawValue, encoder: encoder) }
        if let steps = entry.steps { key("steps"); out.integer(steps) }
        key("time"); out.integer(entry.time)
        out.raw("}")
        return out.bytes
    }

    /// Appends an entry (its `seq` is assigned here) and drops the oldest beyond the budget.
    mutating func append(_ entry: Entry) {
        var entry = entry
        entry.seq = nextSeq
        nextSeq += 1
        let cost = Self.cost(entry)
        entries.append(entry)
        costs.append(cost)
        usedBytes += cost
        var drop = 0
        while usedBytes > budgetBytes && drop < entries.count {
            usedBytes -= costs[drop]
            drop += 1
        }
        if drop > 0 {
            entries.removeFirst(drop)
            costs.removeFirst(drop)
        }
    }

    /// A mark (reset, restore, checkpoint) at `time`; a reset first clears every earlier entry.
    mutating func mark(_ kind: Kind, checkpoint: String? = nil, time: Int64 = StreamHistory.now()) {
        if kind == .reset {
            entries = []
            costs = []
            usedBytes = 2
        }
        append(Entry(seq: 0, time: time, kind: kind, checkpoint: checkpoint))
    }

    /// The point of one processed request. `skippedSteps` is how many of its steps the
    /// confidence filter skipped.
    mutating func record(_ result: StepResult, adapt: Bool, skippedSteps: Int, time: Int64) {
        let batch = result.probabilities.rows, k = result.probabilities.cols
        var entropy: Double = 0, confidence: Double = 0
        for b in 0..<batch {
            // The same per-image entropy and top-1 probability the answer reports.
            let row = result.probabilities.storage[(b * k)..<((b + 1) * k)]
            entropy += Double(Kernels.entropy(probabilities: row))
            confidence += Double(row.max() ?? 0)
        }
        var counts: [Int: Int] = [:]
        for prediction in result.predictions { counts[prediction, default: 0] += 1 }
        let skip: Skip? = !adapt ? .notRequested : (skippedSteps > 0 ? .filtered : nil)
        append(Entry(
            seq: 0, time: time, kind: .request, images: batch,
            // Clamped to the documented ranges: rounding can put a probability a hair above 1.
            meanEntropy: Self.finite(max(0, entropy / Double(max(batch, 1)))),
            meanConfidence: Self.finite(min(1, confidence / Double(max(batch, 1)))),
            classes: counts.keys.sorted().map { ClassCount(index: Int32($0), count: Int32(counts[$0]!)) }, adapted: adapt, steps: result.stepsTaken, skipped: skip,
            automaticReset: result.automaticReset))
    }

    private static func finite(_ value: Double) -> Float { value.isFinite ? Float(value) : 0 }

    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// Entries with `seq` above `since`, oldest first, at most `limit`.
    func entries(since: Int, limit: Int) -> ArraySlice<Entry> {
        let start = entries.firstIndex { $0.seq > since } ?? entries.endIndex
        return entries[start..<(entries.index(start, offsetBy: limit, limitedBy: entries.endIndex) ?? entries.endIndex)]
    }

    // MARK: Stored form

    /// The key of the history in a snapshot's safetensors metadata.
    static let metadataKey = "rada.history"

    private struct Stored: Decodable {
        var nextSeq: Int
        var entries: [Entry]
    }

    /// The stored form, `{"entries":[…],"nextSeq":n}` as `encoder` writes it. Entries are written
    /// directly (`json`): a snapshot carries up to 64 KiB of them, and `JSONEncoder` took about
    /// 1.5 ms of each snapshot, which the stream's next request waits for.
    func stored() -> String {
        var out = Array("{\"entries\":[".utf8)
        out.reserveCapacity(usedBytes + 32)
        for (i, entry) in entries.enumerated() {
            // A non-finite number: `JSONEncoder` refuses the whole history as well.
            guard let json = Self.json(entry) else { return "" }
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: json)
        }
        out.append(contentsOf: "],\"nextSeq\":\(nextSeq)}".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// The history of a snapshot, checked as any stored state is: each entry must be one this
    /// server could have written for a stream of `classes` classes, `seq` strictly increasing and
    /// below `nextSeq`. Anything else yields nil (the caller starts an empty history: the history
    /// is a view of the stream, never a reason to refuse loading it).
    init?(stored json: String, classes: Int, budgetBytes: Int = StreamHistory.defaultBudgetBytes) {
        guard let stored = try? JSONDecoder().decode(Stored.self, from: Data(json.utf8)),
              (1...CheckpointBounds.counterLimit).contains(stored.nextSeq) else { return nil }
        self.init(budgetBytes: budgetBytes)
        var previous = 0
        for entry in stored.entries {
            guard entry.seq > previous, entry.seq < stored.nextSeq, Self.isPlausible(entry, classes: classes) else { return nil }
            previous = entry.seq
            nextSeq = entry.seq
            append(entry)
        }
        nextSeq = stored.nextSeq
    }

    private static func isPlausible(_ entry: Entry, classes: Int) -> Bool {
        guard entry.kind == .request else { return entry.images == nil && entry.classes == nil }
        guard let images = entry.images, (1...CheckpointBounds.counterLimit).contains(images), let pairs = entry.classes else { return false }
        var total = 0, last: Int32 = -1
        for pair in pairs {
            guard pair.index > last, Int(pair.index) < classes, (1...images).contains(Int(pair.count)) else { return false }
            last = pair.index
            total += Int(pair.count)
        }
        return total == images && (entry.steps ?? 0) >= 0 && (entry.steps ?? 0) <= CheckpointBounds.counterLimit
    }
}
