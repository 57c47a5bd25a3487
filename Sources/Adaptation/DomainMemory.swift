import Foundation

/// The memory of domains (`RAdaHyperparameters.domainMemory`; Docs/rada.md, "A memory of
/// domains"): a bank of the stream's adapted states, one per domain met, keyed by running mean
/// feature directions. A batch further than `threshold` from the current domain's key is a
/// shift: the state is stored under the key it leaves and the stored state of the nearest key,
/// if within `threshold`, comes back. A domain that returns so starts from its own state instead
/// of the last domain's. `DomainMemory()` is off (`capacity` 0); the served default
/// (`RAdaHyperparameters.domainMemory`) is on.
public struct DomainMemory: Codable, Sendable, Equatable {
    /// What a domain's key is a running mean of.
    public enum Key: String, Codable, Sendable, CaseIterable {
        /// The whole batch's mean direction (a run of one class moves it as far as a corruption).
        case batchMean = "batch-mean"
        /// One mean direction per class, each image counted under its zero-shot class; a batch is
        /// compared on the classes it and the key share. A change of classes (label shift)
        /// changes which classes are compared, not their means; a change of domain moves them.
        case perClass = "per-class"
    }

    /// States the bank holds at most (0: off); fewer where `maxBytes` says so.
    public var capacity: Int = 0
    /// The largest capacity a policy may ask for: each state is the whole adapted state
    /// (`StreamState.memoryBytes` counts those stored).
    public static let maxCapacity = 64
    /// Bytes the stored states may take at most: a stream holds `storedCapacity(stateBytes:)`
    /// states, so a large class set keeps few (at K = 1000, D = 512 a state is about 31 MB) and
    /// its checkpoints stay within what a server accepts back as an upload.
    public var maxBytes: Int = 64 << 20
    /// The largest `maxBytes` a policy may ask for, and what headers written before the field
    /// existed read as (their capacity alone bounded them).
    public static let maxBytesLimit = 1 << 34
    /// Cosine distance between a batch and the domain key that is a shift.
    public var threshold: Double = 0.03
    public var key: Key = .perClass
    /// Weight of the key's past in its running mean (per batch).
    public var keyMomentum: Double = 0.8
    /// Requests of fewer images are never a shift (they only move the key).
    public var minimumBatch: Int = 8
    /// With `perClass`, classes with fewer of a batch's images are neither compared nor learnt.
    public var minimumPerClass: Int = 4

    public var isOn: Bool { capacity > 0 }

    /// The states a stream whose adapted state takes `stateBytes` holds: `capacity`, or fewer
    /// where they would take more than `maxBytes` (0, so off, where not even one fits).
    public func storedCapacity(stateBytes: Int) -> Int {
        stateBytes > 0 ? min(capacity, maxBytes / stateBytes) : capacity
    }

    private enum CodingKeys: String, CodingKey { case capacity, maxBytes, threshold, key, keyMomentum, minimumBatch, minimumPerClass }

    /// Decodes every field; `maxBytes` may be absent (headers written before it: `maxBytesLimit`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        capacity = try c.decode(Int.self, forKey: .capacity)
        maxBytes = c.contains(.maxBytes) ? try c.decode(Int.self, forKey: .maxBytes) : Self.maxBytesLimit
        threshold = try c.decode(Double.self, forKey: .threshold)
        key = try c.decode(Key.self, forKey: .key)
        keyMomentum = try c.decode(Double.self, forKey: .keyMomentum)
        minimumBatch = try c.decode(Int.self, forKey: .minimumBatch)
        minimumPerClass = try c.decode(Int.self, forKey: .minimumPerClass)
    }

    public init(capacity: Int = 0, maxBytes: Int = 64 << 20, threshold: Double = 0.03, key: Key = .perClass, keyMomentum: Double = 0.8,
                minimumBatch: Int = 8, minimumPerClass: Int = 4) {
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.threshold = threshold
        self.key = key
        self.keyMomentum = keyMomentum
        self.minimumBatch = minimumBatch
        self.minimumPerClass = minimumPerClass
    }

    /// The key's groups: one per class, or one.
    func groups(classes: Int) -> Int { key == .perClass ? classes : 1 }
}

/// A domain's key: a unit mean direction per group of images (one group, or one per class); nil
/// where the group has not been seen.
public typealias DomainKey = [[Float]?]

/// The stream's bank of stored states and the current domain's key. `Parts` is what a domain
/// keeps (the stream's adapted state).
public struct DomainBank<Parts: Sendable & Equatable>: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: DomainKey
        public var parts: Parts
        /// The bank's batch count when it was stored or restored (least recently used goes first).
        public var lastUsed: Int
    }

    public internal(set) var key: DomainKey?
    public internal(set) var entries: [Entry] = []
    /// Batches the bank has seen, and the shifts and restores among them, since the stream's
    /// creation or last reset.
    public internal(set) var batches = 0
    public internal(set) var shifts = 0
    public internal(set) var restores = 0

    public init() {}

    static func direction(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    static func distance(_ a: [Float], _ b: [Float]) -> Float { 1 - zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// The mean distance over the groups both keys have, each weighted by `weights` (the batch's
    /// images in it); nil if they share none.
    static func distance(_ a: DomainKey, _ b: DomainKey, weights: [Float]? = nil) -> Float? {
        var total: Float = 0, weight: Float = 0
        for g in a.indices where g < b.count {
            guard let x = a[g], let y = b[g] else { continue }
            let w = weights?[g] ?? 1
            total += w * distance(x, y)
            weight += w
        }
        return weight > 0 ? total / weight : nil
    }

    /// A batch's key (B×D `features`, row-major): its groups' mean directions, and the images in
    /// each. With `perClass` an image's group is its zero-shot class (the arg-max of its dot
    /// product with the K×D `classEmbeddings`, which no state changes).
    static func batchKey(_ features: [Float], rows: Int, dimension d: Int, classEmbeddings: [Float], classes: Int,
                         settings: DomainMemory) -> (key: DomainKey, counts: [Float]) {
        let perClass = settings.key == .perClass
        let groups = settings.groups(classes: classes)
        var sums = [[Float]](repeating: [Float](repeating: 0, count: d), count: groups)
        var counts = [Float](repeating: 0, count: groups)
        for r in 0..<rows {
            let row = features[(r * d)..<((r + 1) * d)]
            var g = 0
            if perClass {
                var best = -Float.infinity
                for k in 0..<groups {
                    let score = zip(row, classEmbeddings[(k * d)..<((k + 1) * d)]).reduce(0) { $0 + $1.0 * $1.1 }
                    if score > best { (best, g) = (score, k) }
                }
            }
            for c in 0..<d { sums[g][c] += row[row.startIndex + c] }
            counts[g] += 1
        }
        let least = perClass ? Float(settings.minimumPerClass) : 1
        return (sums.indices.map { counts[$0] >= least ? direction(sums[$0]) : nil }, counts)
    }

    private func nearest(to target: DomainKey, weights: [Float]? = nil, threshold: Float) -> Int? {
        var best: (index: Int, distance: Float)?
        for i in entries.indices {
            guard let d = Self.distance(target, entries[i].key, weights: weights) else { continue }
            if d < (best?.distance ?? .infinity) { best = (i, d) }
        }
        return best.flatMap { $0.distance < threshold ? $0.index : nil }
    }

    private mutating func store(_ parts: Parts, key: DomainKey, settings: DomainMemory) {
        let entry = Entry(key: key, parts: parts, lastUsed: batches)
        if let i = nearest(to: key, threshold: Float(settings.threshold)) {
            entries[i] = entry
        } else if entries.count < settings.capacity {
            entries.append(entry)
        } else if let oldest = entries.indices.min(by: { entries[$0].lastUsed < entries[$1].lastUsed }) {
            entries[oldest] = entry
        }
    }

    /// Takes one adapting request's batch: on a shift, stores `parts` under the key it leaves
    /// and replaces them with the returning domain's, if one is stored; otherwise moves the key.
    /// Returns whether `parts` was replaced.
    mutating func observe(_ features: [Float], rows: Int, dimension: Int, classEmbeddings: [Float], classes: Int,
                          settings: DomainMemory, parts: inout Parts) -> Bool {
        batches = CheckpointBounds.advanced(batches)
        let (seen, counts) = Self.batchKey(features, rows: rows, dimension: dimension, classEmbeddings: classEmbeddings,
                                           classes: classes, settings: settings)
        let threshold = Float(settings.threshold)
        if let current = key, rows >= settings.minimumBatch,
           let d = Self.distance(seen, current, weights: counts), d > threshold {
            shifts = CheckpointBounds.advanced(shifts)
            store(parts, key: current, settings: settings)
            if let j = nearest(to: seen, weights: counts, threshold: threshold) {
                parts = entries[j].parts
                key = entries[j].key
                entries[j].lastUsed = batches
                restores = CheckpointBounds.advanced(restores)
                return true
            }
            key = seen
        } else if let current = key {
            let m = Float(settings.keyMomentum)
            key = zip(current, seen).map { old, new in
                guard let new else { return old }
                guard let old else { return new }
                return Self.direction(zip(old, new).map { m * $0 + (1 - m) * $1 })
            }
        } else {
            key = seen
        }
        return false
    }

    /// Floating-point operations of `observe` on a batch (the zero-shot grouping and the sums).
    static func flops(batch: Int, classes: Int, dimension: Int, settings: DomainMemory) -> Double {
        guard settings.isOn else { return 0 }
        // The per-class key's zero-shot grouping, the sums, and a shift's distances to every key.
        let grouping = settings.key == .perClass ? 2 * Double(batch * classes * dimension) : 0
        return grouping + Double(batch * dimension) + Double((settings.capacity + 1) * settings.groups(classes: classes) * dimension) * 3
    }
}
