import Adaptation
import RadaNumerics

/// rada with a memory of the domains it has adapted to (`rada bench --memory-variant`; a
/// candidate measured in the bench, not part of the served stream). Each batch's mean feature
/// direction is compared with the current domain's key, a running mean of those directions. A
/// batch further from it than `threshold` (cosine distance) is a shift: the stream's state is
/// stored under the key it leaves (replacing the stored state nearest to that key if it lies
/// within the threshold, else the least recently used one when the bank is full), and the stored
/// state whose key is nearest the new batch is restored if it lies within the threshold; if none
/// does, the stream goes on from its current state under a new key. A recurring domain so starts
/// from the state it was left in, instead of from the last domain's. Batches of fewer than
/// `minimumBatch` images are never shifts.
public struct DomainMemoryMethod: TTAMethod {
    public struct Settings: Sendable, Equatable {
        /// Cosine distance between a batch's mean direction and the domain key that is a shift.
        public var threshold: Float
        /// States the bank holds at most.
        public var capacity: Int
        /// Weight of the key's past in its running mean (per batch).
        public var keyMomentum: Float
        /// Batches of fewer images are never a shift (one image's direction says little about
        /// its domain): they only move the key.
        public var minimumBatch: Int
        /// Whether a batch's mean is taken with the span of the class embeddings projected out
        /// first, so that the key follows the domain more than the classes in the batch.
        public var classFreeKey: Bool

        public init(threshold: Float, capacity: Int = 16, keyMomentum: Float = 0.8, minimumBatch: Int = 8, classFreeKey: Bool = false) {
            self.threshold = threshold
            self.capacity = capacity
            self.keyMomentum = keyMomentum
            self.minimumBatch = minimumBatch
            self.classFreeKey = classFreeKey
        }
    }

    struct Entry: Sendable {
        var key: [Float]
        var state: StreamState
        var lastUsed: Int
    }

    public let name: String
    public let settings: Settings
    public private(set) var state: StreamState
    private var key: [Float]?
    private var bank: [Entry] = []
    private var batches = 0
    /// Shifts seen and states restored since the start (or the last reset).
    public private(set) var shifts = 0
    public private(set) var restores = 0
    public var storedStates: Int { bank.count }

    /// Orthonormal rows spanning the class embeddings (with `classFreeKey`).
    private let classBasis: [[Double]]

    /// - Parameter classEmbeddings: the stream's class embeddings (K×D), for `classFreeKey`.
    public init(state: StreamState, settings: Settings, classEmbeddings: Matrix, name: String) {
        precondition(settings.threshold > 0 && settings.capacity >= 1 && (0..<1).contains(settings.keyMomentum))
        self.state = state
        self.settings = settings
        self.name = name
        var basis: [[Double]] = []
        if settings.classFreeKey {
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

    private func nearest(to target: [Float]) -> Int? {
        bank.indices.min { Self.distance(bank[$0].key, target) < Self.distance(bank[$1].key, target) }
            .flatMap { Self.distance(bank[$0].key, target) < settings.threshold ? $0 : nil }
    }

    private mutating func store(key: [Float]) {
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
        var sum = [Float](repeating: 0, count: features.cols)
        for r in 0..<features.rows {
            for c in 0..<features.cols { sum[c] += features.storage[r * features.cols + c] }
        }
        if !classBasis.isEmpty { sum = Self.removingSpan(sum.map(Double.init), classBasis).map(Float.init) }
        let mean = Self.direction(sum)
        if let current = key, features.rows >= settings.minimumBatch, Self.distance(mean, current) > settings.threshold {
            shifts += 1
            store(key: current)
            if let j = nearest(to: mean) {
                state = bank[j].state
                key = bank[j].key
                bank[j].lastUsed = batches
                restores += 1
            } else {
                key = mean
            }
        } else if let current = key {
            let m = settings.keyMomentum
            key = Self.direction(zip(current, mean).map { m * $0 + (1 - m) * $1 })
        } else {
            key = mean
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
