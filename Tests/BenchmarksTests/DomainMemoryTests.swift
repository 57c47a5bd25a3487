import Adaptation
import RadaNumerics
import Testing
@testable import Benchmarks

/// The domain memory against plain rada on the same batches: two synthetic domains whose features
/// point along different axes (cosine distance near 1 between their means, under 0.05 between
/// batches of one domain).
@Suite struct DomainMemoryTests {
    static let (d, s): (Int, Float) = (DOTAMethodTests.dimension, 20)

    static func stream() throws -> StreamState {
        try StreamState(labels: ["a", "b", "c"], textEmbeddings: DOTAMethodTests.text, logitScale: s, heads: 2,
                        hyperparameters: RAdaHyperparameters(), seed: 3)
    }

    /// Four unit rows near axis `axis`, varied by the batch number.
    static func batch(axis: Int, _ n: Int) -> Matrix {
        var storage: [Float] = []
        var random = BenchmarkRandom(keys: UInt64(axis), UInt64(n))
        for _ in 0..<4 {
            var row = (0..<d).map { _ in Float(random.uniform(-0.15, 0.15)) }
            row[axis] += 1
            storage += DomainMemoryMethod.direction(row)
        }
        return Matrix(rows: 4, cols: d, storage: storage)
    }

    static func memory(threshold: Float = 0.3, capacity: Int = 16, minimumBatch: Int = 4) throws -> DomainMemoryMethod {
        DomainMemoryMethod(
            state: try stream(), settings: .init(threshold: threshold, capacity: capacity, minimumBatch: minimumBatch),
            classEmbeddings: DOTAMethodTests.text, name: "mem")
    }

    /// Batches of one domain whose classes differ (every row u + 1.5·t_k for the batch's class k):
    /// their mean directions lie far apart, so the plain key sees a shift; with the class span
    /// projected out both leave u's part outside it, and nothing shifts.
    @Test func aClassFreeKeyIgnoresTheClassMix() throws {
        let text = DOTAMethodTests.text
        var random = BenchmarkRandom(keys: 77)
        let u = DomainMemoryMethod.direction((0..<Self.d).map { _ in Float(random.uniform(-1, 1)) })
        func batch(_ k: Int) -> Matrix {
            let row = DomainMemoryMethod.direction((0..<Self.d).map { u[$0] + 1.5 * text.storage[k * Self.d + $0] })
            return Matrix(rows: 4, cols: Self.d, storage: Array([[Float]](repeating: row, count: 4).joined()))
        }
        #expect(DomainMemoryMethod.distance(batch(0).row(0), batch(1).row(0)) > 0.3)
        for classFree in [false, true] {
            var memory = DomainMemoryMethod(
                state: try Self.stream(), settings: .init(threshold: 0.3, minimumBatch: 4, key: classFree ? .classFree : .batchMean),
                classEmbeddings: text, name: "mem")
            for k in [0, 1, 2, 0] { _ = try memory.process(features: batch(k), labels: []) }
            #expect((memory.shifts > 0) == !classFree, "class-free \(classFree): \(memory.shifts) shifts")
        }
    }

    /// A run of one class after another in one domain moves the batch's mean (the batch-mean
    /// key shifts between runs) but no class's mean, so the per-class key sees no shift; the same
    /// classes in another domain move every class's mean, and it shifts, then returns to the
    /// first domain's state.
    @Test func aPerClassKeyTellsAClassRunFromADomain() throws {
        let text = DOTAMethodTests.text
        var random = BenchmarkRandom(keys: 78)
        func unit() -> [Float] { DomainMemoryMethod.direction((0..<Self.d).map { _ in Float(random.uniform(-1, 1)) }) }
        let (u, v) = (unit(), unit())
        func batch(_ domain: [Float], _ k: Int) -> Matrix {
            var storage: [Float] = []
            for _ in 0..<4 {
                storage += DomainMemoryMethod.direction((0..<Self.d).map { domain[$0] + 2 * text.storage[k * Self.d + $0] + Float(random.uniform(-0.02, 0.02)) })
            }
            return Matrix(rows: 4, cols: Self.d, storage: storage)
        }
        for domain in [u, v] {
            for k in 0..<3 {
                let row = batch(domain, k).row(0)
                let scores = (0..<3).map { j in zip(row, text.row(j)).reduce(0) { $0 + $1.0 * $1.1 } }
                #expect(scores.indices.max { scores[$0] < scores[$1] } == k, "zero-shot must read class \(k)")
            }
        }
        for key in [DomainMemoryMethod.Settings.Key.batchMean, .perClass] {
            var memory = DomainMemoryMethod(
                state: try Self.stream(), settings: .init(threshold: 0.05, minimumBatch: 4, key: key, minimumPerClass: 4),
                classEmbeddings: text, name: "mem")
            for k in [0, 1, 2, 0, 1] { _ = try memory.process(features: batch(u, k), labels: []) }
            let withinDomain = memory.shifts
            for k in [0, 1] { _ = try memory.process(features: batch(v, k), labels: []) }
            let intoV = memory.shifts - withinDomain
            _ = try memory.process(features: batch(u, 0), labels: [])
            if key == .perClass {
                #expect(withinDomain == 0 && intoV == 1, "per-class: \(withinDomain) shifts in u, \(intoV) into v")
                #expect(memory.shifts == 2 && memory.restores == 1, "back to u: \(memory.shifts) shifts, \(memory.restores) restores")
            } else {
                #expect(withinDomain >= 3, "batch mean: \(withinDomain) shifts in u")
            }
        }
    }

    /// Batches under the minimum never shift, so the method is rada bit for bit across domains.
    @Test func smallBatchesNeverShift() throws {
        var memory = try Self.memory(minimumBatch: 5)
        var rada = RAdaMethod(state: try Self.stream())
        for axis in [0, 1, 0, 2] {
            let x = Self.batch(axis: axis, 1)
            #expect(try memory.process(features: x, labels: []) == rada.process(features: x, labels: []), "axis \(axis)")
        }
        #expect(memory.shifts == 0 && memory.storedStates == 0)
    }

    /// Within one domain nothing is a shift, and the method is rada bit for bit.
    @Test func oneDomainIsRada() throws {
        var memory = try Self.memory()
        var rada = RAdaMethod(state: try Self.stream())
        for n in 0..<5 {
            let x = Self.batch(axis: 0, n)
            #expect(try memory.process(features: x, labels: []) == rada.process(features: x, labels: []), "batch \(n)")
        }
        #expect(memory.shifts == 0 && memory.storedStates == 0)
    }

    /// A, B, A: on returning to A the stream goes on from A's state, as if B had never come:
    /// its logits are those of rada that saw A's batches only; rada that saw B answers otherwise.
    @Test func aReturningDomainResumesItsState() throws {
        var memory = try Self.memory()
        var onlyA = RAdaMethod(state: try Self.stream())
        var everything = RAdaMethod(state: try Self.stream())
        for n in 0..<3 {
            _ = try memory.process(features: Self.batch(axis: 0, n), labels: [])
            _ = try onlyA.process(features: Self.batch(axis: 0, n), labels: [])
            _ = try everything.process(features: Self.batch(axis: 0, n), labels: [])
        }
        for n in 0..<3 {
            _ = try memory.process(features: Self.batch(axis: 1, n), labels: [])
            _ = try everything.process(features: Self.batch(axis: 1, n), labels: [])
        }
        #expect(memory.shifts == 1 && memory.restores == 0 && memory.storedStates == 1)
        let back = Self.batch(axis: 0, 3)
        let logits = try memory.process(features: back, labels: [])
        #expect(memory.shifts == 2 && memory.restores == 1 && memory.storedStates == 2)
        #expect(logits == (try onlyA.process(features: back, labels: [])))
        #expect(logits != (try everything.process(features: back, labels: [])))
    }

    /// With room for one state, A's is evicted by B's, so A starts again from B's state; a reset
    /// empties the bank and starts from the initial state.
    @Test func capacityEvictsAndResetEmpties() throws {
        var memory = try Self.memory(capacity: 1)
        var rada = RAdaMethod(state: try Self.stream())
        for axis in [0, 1, 2, 0] {
            let x = Self.batch(axis: axis, 0)
            #expect(try memory.process(features: x, labels: []) == rada.process(features: x, labels: []), "axis \(axis)")
        }
        #expect(memory.shifts == 3 && memory.restores == 0 && memory.storedStates == 1)
        memory.reset()
        var fresh = RAdaMethod(state: try Self.stream())
        #expect(memory.storedStates == 0 && memory.shifts == 0)
        let x = Self.batch(axis: 1, 5)
        #expect(try memory.process(features: x, labels: []) == fresh.process(features: x, labels: []))
    }
}
