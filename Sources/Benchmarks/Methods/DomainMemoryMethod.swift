import Adaptation
import RadaNumerics

/// rada with a memory of the domains it has adapted to (`rada bench --memory-variant`; a
/// candidate measured in the bench, not part of the served stream). Each batch is compared with
/// the current domain's key, a running mean of feature directions: of the whole batch, or one per
/// class the batch's images are given by zero-shot (`Settings.Key`). A batch further from it than
/// `threshold` (cosine distance) is a shift: the stream's state is stored under the key it leaves
/// (replacing the stored state nearest to that key if it lies within the threshold, else the least
/// recently used one when the bank is full), and the stored state whose key is nearest the new
/// batch is restored if it lies within the threshold; if none does, the stream goes on from its
/// current state under a new key. A recurring domain so starts from the state it was left in,
/// instead of from the last domain's. Batches of fewer than `minimumBatch` images are never shifts.
public struct DomainMemoryMethod: TTAMethod {
    public struct Settings: Sendable, Equatable {
        /// What a domain's key is a running mean of.
        public enum Key: String, Sendable, CaseIterable {
            /// The whole batch's mean direction.
            case batchMean = "batch-mean"
            /// The batch's mean with the span of the class embeddings projected out, so that it
            /// should follow the domain more than the classes in the batch.
            case classFree = "class-free"
            /// One mean direction per class, each image counted under its zero-shot class; a batch
            /// is compared on the classes it and the key share. A change of classes (label shift)
            /// changes which classes are compared, not their means; a change of domain moves them.
            case perClass = "per-class"
        }

        /// Cosine distance between a batch and the domain key that is a shift.
        public var threshold: Float
        /// States the bank holds at most.
        public var capacity: Int
        /// Weight of the key's past in its running mean (per batch).
        public var keyMomentum: Float
        /// Batches of fewer images are never a shift (one image's direction says little about
        /// its domain): they only move the key.
        public var minimumBatch: Int
        public var key: Key
        /// With `perClass`, classes with fewer of the batch's images are neither compared nor
        /// learnt (their mean is mostly the images' own variation).
        public var minimumPerClass: Int

        public init(threshold: Float, capacity: Int = 16, keyMomentum: Float = 0.8, minimumBatch: Int = 8, key: Key = .batchMean, minimumPerClass: Int = 4) {
            self.threshold = threshold
            self.capacity = capacity
            self.keyMomentum = keyMomentum
            self.minimumBatch = minimumBatch
            self.key = key
            self.minimumPerClass = minimumPerClass
        }
    }

    /// A mean direction per group of images (one group, or one per class); nil where the group
    /// has not been seen.
    typealias DomainKey = [[Float]?]

    struct Entry: Sendable {
        var key: DomainKey
        var state: StreamState
        var lastUsed: Int
    }

    public let name: String
    public let settings: Settings
    public private(set) var state: StreamState
    private var key: DomainKey?
    private var bank: [Entry] = []
    private var batches = 0
    /// Shifts seen and states restored since the start (or the last reset).
    public private(set) var shifts = 0
    public private(set) var restores = 0
    public var storedStates: Int { bank.count }

    private let classEmbeddings: Matrix
    /// Orthonormal rows spanning the class embeddings (with `classFree`).
    private let classBasis: [[Double]]

    /// - Parameter classEmbeddings: the stream's class embeddings (K×D), for the class-free and
    ///   per-class keys.
    public init(state: StreamState, settings: Settings, classEmbeddings: Matrix, name: String) {
        precondition(settings.threshold > 0 && settings.capacity >= 1 && (0..<1).contains(settings.keyMomentum))
        self.state = state
        self.settings = settings
        self.name = name
        self.classEmbeddings = classEmbeddings
        var basis: [[Double]] = []
        if settings.key == .classFree {
            for k in 0..<classEmbeddings.rows {
                let v = Self.removingSpan(classEmbeddings.row(k).map(Double.init), basis)
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 1e-6 { basis.append(v.map { $0 / norm }) }
            }
        }
        classBasis = basis
    }

    /// v minus its projection on the orthonormal rows of `basis` (Gram–Schmidt's step).
    static func removingSpan(_ v: [Double], _ basis: [[Double]]) -> [Double] {
        var v = v
        for b in basis {
            let dot = zip(v, b).reduce(0) { $0 + $1.0 * $1.1 }
            for i in v.indices { v[i] -= dot * b[i] }
        }
        return v
    }

    static func direction(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    static func distance(_ a: [Float], _ b: [Float]) -> Float { 1 - zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// The mean distance over the groups both keys have, each weighted by `weights` (the batch's
    /// images in it); nil if they share none.
    static func distance(_ a: DomainKey, _ b: DomainKey, weights: [Float]? = nil) -> Float? {
        var total: Float = 0, weight: Float = 0
        for g in a.indices {
            guard let x = a[g], let y = b[g] else { continue }
            let w = weights?[g] ?? 1
            total += w * distance(x, y)
            weight += w
        }
        return weight > 0 ? total / weight : nil
    }

    /// The batch's key: its groups' mean directions, and the images in each.
    private func batchKey(_ features: Matrix) -> (key: DomainKey, counts: [Float]) {
        let d = features.cols
        let perClass = settings.key == .perClass
        let groups = perClass ? classEmbeddings.rows : 1
        var sums = [[Float]](repeating: [Float](repeating: 0, count: d), count: groups)
        var counts = [Float](repeating: 0, count: groups)
        for r in 0..<features.rows {
            let row = features.storage[(r * d)..<((r + 1) * d)]
            var g = 0
            if perClass {
                var best = -Float.infinity
                for k in 0..<groups {
                    let score = zip(row, classEmbeddings.storage[(k * d)..<((k + 1) * d)]).reduce(0) { $0 + $1.0 * $1.1 }
                    if score > best { (best, g) = (score, k) }
                }
            }
            for c in 0..<d { sums[g][c] += row[row.startIndex + c] }
            counts[g] += 1
        }
        if !classBasis.isEmpty { sums[0] = Self.removingSpan(sums[0].map(Double.init), classBasis).map(Float.init) }
        let least = perClass ? Float(settings.minimumPerClass) : 1
        return (sums.indices.map { counts[$0] >= least ? Self.direction(sums[$0]) : nil }, counts)
    }

    private func nearest(to target: DomainKey, weights: [Float]? = nil) -> Int? {
        var best: (index: Int, distance: Float)?
        for i in bank.indices {
            guard let d = Self.distance(target, bank[i].key, weights: weights) else { continue }
            if d < (best?.distance ?? .infinity) { best = (i, d) }
        }
        return best.flatMap { $0.distance < settings.threshold ? $0.index : nil }
    }

    private mutating func store(key: DomainKey) {
        if let i = nearest(to: key) {
            bank[i] = Entry(key: key, state: state, lastUsed: batches)
        } else if bank.count < settings.capacity {
            bank.append(Entry(key: key, state: state, lastUsed: batches))
        } else {
            let oldest = bank.indices.min { bank[$0].lastUsed < bank[$1].lastUsed }!
            bank[oldest] = Entry(key: key, state: state, lastUsed: batches)
        }
    }

    public mutating func process(features: Matrix, labels: [Int]) throws -> Matrix {
        batches += 1
        let (seen, counts) = batchKey(features)
        if let current = key, features.rows >= settings.minimumBatch,
           let d = Self.distance(seen, current, weights: counts), d > settings.threshold {
            shifts += 1
            store(key: current)
            if let j = nearest(to: seen, weights: counts) {
                state = bank[j].state
                key = bank[j].key
                bank[j].lastUsed = batches
                restores += 1
            } else {
                key = seen
            }
        } else if let current = key {
            let m = settings.keyMomentum
            key = zip(current, seen).map { old, new in
                guard let new else { return old }
                guard let old else { return new }
                return Self.direction(zip(old, new).map { m * $0 + (1 - m) * $1 })
            }
        } else {
            key = seen
        }
        return try state.process(features, adapt: true, labels: nil).logits
    }

    public mutating func reset() {
        state.reset()
        key = nil
        bank = []
        shifts = 0
        restores = 0
    }

    public var stateSummary: [(name: String, value: Double)] {
        state.summary.named + [("stored_states", Double(bank.count)), ("shifts", Double(shifts)), ("restores", Double(restores))]
    }
}
