import Foundation
import RadaNumerics
import SafeTensors
import Testing
@testable import Adaptation

/// The memory of domains (`RAdaHyperparameters.domainMemory`) against the stream without it on
/// the same batches: synthetic domains whose images point near different axes (cosine distance
/// near 1 between their means, under 0.05 between batches of one domain).
@Suite struct DomainMemoryTests {
    static let (classes, d): (Int, Int) = (3, 8)
    static let text: Matrix = {
        var generator = SeededGenerator(seed: 1)
        var t = Matrix(rows: classes, cols: d)
        for i in 0..<t.storage.count { t.storage[i] = Float(generator.nextSymmetric(bound: 1)) }
        t.normalizeRows()
        return t
    }()

    static func memory(threshold: Double = 0.3, capacity: Int = 16, minimumBatch: Int = 4, key: DomainMemory.Key = .batchMean) -> RAdaHyperparameters {
        var h = RAdaHyperparameters()
        h.domainMemory = DomainMemory(capacity: capacity, threshold: threshold, key: key, minimumBatch: minimumBatch)
        return h
    }

    /// The served default with the memory off: the stream every test compares with.
    static let off: RAdaHyperparameters = {
        var h = RAdaHyperparameters()
        h.domainMemory = DomainMemory()
        return h
    }()

    static func stream(_ hyperparameters: RAdaHyperparameters = off) throws -> StreamState {
        try StreamState(labels: ["a", "b", "c"], textEmbeddings: text, logitScale: 20, heads: 2, hyperparameters: hyperparameters, seed: 3)
    }

    static func direction(_ v: [Float]) -> [Float] { DomainBank<AdaptedParts>.direction(v) }

    /// Four unit rows near axis `axis`, varied by the batch number.
    static func batch(axis: Int, _ n: Int) -> Matrix {
        var storage: [Float] = []
        var generator = SeededGenerator(seed: UInt64(axis * 1000 + n + 7))
        for _ in 0..<4 {
            var row = (0..<d).map { _ in Float(generator.nextSymmetric(bound: 0.15)) }
            row[axis] += 1
            storage += direction(row)
        }
        return Matrix(rows: 4, cols: d, storage: storage)
    }

    /// Within one domain nothing is a shift, and the stream is the one without a memory bit for bit.
    @Test func oneDomainIsTheStreamWithoutMemory() throws {
        var memory = try Self.stream(Self.memory())
        var plain = try Self.stream()
        for n in 0..<5 {
            let x = Self.batch(axis: 0, n)
            #expect(try memory.process(x).logits == plain.process(x).logits, "batch \(n)")
        }
        #expect(memory.domains.shifts == 0 && memory.domains.entries.isEmpty && memory.domains.batches == 5)
    }

    /// Batches under the minimum never shift; requests that do not adapt leave the memory alone.
    @Test func smallBatchesAndPredictionsNeverShift() throws {
        var memory = try Self.stream(Self.memory(minimumBatch: 5))
        var plain = try Self.stream()
        for axis in [0, 1, 0, 2] {
            let x = Self.batch(axis: axis, 1)
            #expect(try memory.process(x).logits == plain.process(x).logits, "axis \(axis)")
        }
        #expect(memory.domains.shifts == 0 && memory.domains.entries.isEmpty)
        var predicting = try Self.stream(Self.memory())
        for axis in [0, 1, 2] { _ = try predicting.process(Self.batch(axis: axis, 0), adapt: false) }
        #expect(predicting.domains == DomainBank())
    }

    /// A, B, A: on returning to A the stream goes on from A's state, as if B had never come: its
    /// logits are those of the stream that saw A's batches only; one that saw B answers otherwise.
    /// The counters still count every batch.
    @Test func aReturningDomainResumesItsState() throws {
        var memory = try Self.stream(Self.memory())
        var onlyA = try Self.stream()
        var everything = try Self.stream()
        for n in 0..<3 {
            let x = Self.batch(axis: 0, n)
            _ = try memory.process(x)
            _ = try onlyA.process(x)
            _ = try everything.process(x)
        }
        for n in 0..<3 {
            _ = try memory.process(Self.batch(axis: 1, n))
            _ = try everything.process(Self.batch(axis: 1, n))
        }
        #expect(memory.domains.shifts == 1 && memory.domains.restores == 0 && memory.domains.entries.count == 1)
        let back = Self.batch(axis: 0, 3)
        let logits = try memory.process(back).logits
        #expect(memory.domains.shifts == 2 && memory.domains.restores == 1 && memory.domains.entries.count == 2)
        #expect(logits == (try onlyA.process(back).logits))
        #expect(logits != (try everything.process(back).logits))
        #expect(memory.mask == onlyA.mask && memory.counters.batchesSeen == 7)
    }

    /// With room for one state, A's is evicted by B's, so A starts again from B's state; a reset
    /// empties the bank and returns to the fresh stream.
    @Test func capacityEvictsAndResetEmpties() throws {
        var memory = try Self.stream(Self.memory(capacity: 1))
        var plain = try Self.stream()
        for axis in [0, 1, 2, 0] {
            let x = Self.batch(axis: axis, 0)
            #expect(try memory.process(x).logits == plain.process(x).logits, "axis \(axis)")
        }
        #expect(memory.domains.shifts == 3 && memory.domains.restores == 0 && memory.domains.entries.count == 1)
        memory.reset()
        #expect(memory == (try Self.stream(Self.memory(capacity: 1))))
    }

    /// A run of one class after another in one domain moves the batch's mean (the batch-mean key
    /// shifts between runs) but no class's mean, so the per-class key sees no shift; the same
    /// classes in another domain move every class's mean, and it shifts, then returns to the
    /// first domain's state.
    @Test func aPerClassKeyTellsAClassRunFromADomain() throws {
        var generator = SeededGenerator(seed: 78)
        func unit() -> [Float] { Self.direction((0..<Self.d).map { _ in Float(generator.nextSymmetric(bound: 1)) }) }
        let (u, v) = (unit(), unit())
        func batch(_ domain: [Float], _ k: Int) -> Matrix {
            var storage: [Float] = []
            for _ in 0..<4 {
                storage += Self.direction((0..<Self.d).map { domain[$0] + 2 * Self.text[k, $0] + Float(generator.nextSymmetric(bound: 0.02)) })
            }
            return Matrix(rows: 4, cols: Self.d, storage: storage)
        }
        for domain in [u, v] {
            for k in 0..<3 {
                let row = batch(domain, k).row(0)
                let scores = (0..<3).map { j in zip(row, Self.text.row(j)).reduce(0) { $0 + $1.0 * $1.1 } }
                #expect(scores.indices.max { scores[$0] < scores[$1] } == k, "zero-shot must read class \(k)")
            }
        }
        for key in DomainMemory.Key.allCases {
            var memory = try Self.stream(Self.memory(threshold: 0.05, key: key))
            for k in [0, 1, 2, 0, 1] { _ = try memory.process(batch(u, k)) }
            let withinDomain = memory.domains.shifts
            for k in [0, 1] { _ = try memory.process(batch(v, k)) }
            let intoV = memory.domains.shifts - withinDomain
            _ = try memory.process(batch(u, 0))
            if key == .perClass {
                #expect(withinDomain == 0 && intoV == 1, "per-class: \(withinDomain) shifts in u, \(intoV) into v")
                #expect(memory.domains.shifts == 2 && memory.domains.restores == 1, "back to u")
            } else {
                #expect(withinDomain >= 3, "batch mean: \(withinDomain) shifts in u")
            }
        }
    }

    /// A stream with stored states goes through its checkpoint (rebuilt and restored) unchanged,
    /// and both copies go on exactly as it does, a return to a stored domain included.
    @Test func theMemoryIsPartOfTheCheckpoint() throws {
        var original = try Self.stream(Self.memory(capacity: 3))
        for axis in [0, 1, 0, 2] { for n in 0..<2 { _ = try original.process(Self.batch(axis: axis, n)) } }
        #expect(original.domains.entries.count == 2 && original.domains.restores == 1)
        let data = try original.checkpointData()
        var rebuilt = try StreamState(checkpoint: data)
        var restored = try Self.stream(Self.memory(capacity: 3))
        try restored.restore(from: data)
        #expect(rebuilt == original && restored == original)
        for axis in [1, 0, 2] {
            let x = Self.batch(axis: axis, 5)
            let a = try original.process(x).logits
            #expect(try rebuilt.process(x).logits == a && restored.process(x).logits == a, "axis \(axis)")
        }
        #expect(rebuilt == original && restored == original)
        #expect(original.domains.restores >= 2, "\(original.domains.shifts) shifts, \(original.domains.restores) restores")
    }

    /// Stored states count in the stream's memory as they are stored; `maxBytes` bounds how
    /// many a stream of its size holds; the episodic policy holds none; any change of settings
    /// empties the memory; the settings' bounds hold; the served default is the thirty-second
    /// round's choice.
    @Test func memoryAccountingAndSettings() throws {
        let plain = try Self.stream()
        let h = Self.memory(capacity: 4)
        var memory = try Self.stream(h)
        let stateBytes = h.adaptedStateBytes(classes: Self.classes, dimension: Self.d)
        #expect(stateBytes >= plain.mask.values.count * 3 * 4, "the mask and Adam's two moments at least")
        #expect(memory.memoryBytes - plain.memoryBytes == Self.d * 4, "the current key only")
        for axis in [0, 1, 2] { _ = try memory.process(Self.batch(axis: axis, 0)) }
        let stored = memory.domains.entries.count
        #expect(stored == 2)
        #expect(memory.memoryBytes - plain.memoryBytes == stored * stateBytes + (stored + 1) * Self.d * 4)
        // Each stored state is at most a checkpoint's tensors and a header of this stream's labels
        // and settings (64 KiB and the labels), not the 4 MiB any header may take.
        let data = try memory.checkpointData(), plainData = try plain.checkpointData()
        let added = memory.maximumCheckpointBytes - plain.maximumCheckpointBytes
        #expect(data.count <= memory.maximumCheckpointBytes && added >= 4 * plainData.count)
        #expect(added < 4 * (plain.maximumCheckpointBytes - CheckpointBounds.maxHeaderBytes + (65 << 10)) + 5 * Self.d * 4)

        var bounded = h
        bounded.domainMemory.maxBytes = 2 * stateBytes + 1
        var small = try Self.stream(bounded)
        #expect(small.appliedDomainMemory.capacity == 2 && small.maximumCheckpointBytes < memory.maximumCheckpointBytes)
        for axis in [0, 1, 2, 3, 0, 1] { _ = try small.process(Self.batch(axis: axis, 0)) }
        #expect(small.domains.entries.count == 2 && small.domains.shifts == 5)
        bounded.domainMemory.maxBytes = stateBytes - 1
        #expect(try Self.stream(bounded).appliedDomainMemory.isOn == false)

        var episodic = h
        episodic.policy = .episodic
        var once = try Self.stream(episodic)
        for axis in [0, 1, 0] { _ = try once.process(Self.batch(axis: axis, 0)) }
        let fresh = try Self.stream(episodic)
        #expect(once.appliedDomainMemory.capacity == 0 && once.domains == DomainBank() && once.memoryBytes == fresh.memoryBytes)

        var changed = try Self.stream(Self.memory())
        for axis in [0, 1] { _ = try changed.process(Self.batch(axis: axis, 0)) }
        #expect(!changed.domains.entries.isEmpty)
        var other = changed.hyperparameters
        other.runningMomentum = 0.5
        try changed.setHyperparameters(other)
        #expect(changed.domains == DomainBank())
        for bad in [DomainMemory(capacity: DomainMemory.maxCapacity + 1), DomainMemory(capacity: 1, threshold: 0),
                    DomainMemory(capacity: 1, keyMomentum: 1), DomainMemory(capacity: 1, minimumBatch: 0),
                    DomainMemory(capacity: 1, maxBytes: 0), DomainMemory(capacity: 1, maxBytes: DomainMemory.maxBytesLimit + 1)] {
            var h = RAdaHyperparameters()
            h.domainMemory = bad
            #expect(throws: AdaptationError.self) { try h.validate() }
        }

        // The default: 16 states of the per-class key at 0.03 within 64 MiB, so two at ImageNet's
        // K = 1000, D = 512 (about 31 MB a state) and all sixteen at the embedded model's 10 × 128.
        let served = RAdaHyperparameters()
        #expect(served.domainMemory == DomainMemory(capacity: 16, maxBytes: 64 << 20, threshold: 0.03, key: .perClass))
        #expect(served.appliedDomainMemory(classes: 1000, dimension: 512).capacity == 2)
        #expect(served.appliedDomainMemory(classes: 10, dimension: 128).capacity == 16)
        // Stored hyper-parameters without the field keep it off; headers written before maxBytes
        // existed were bounded by their capacity alone.
        var storedForm = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(served)) as? [String: Any])
        storedForm["domainMemory"] = nil
        #expect(try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONSerialization.data(withJSONObject: storedForm))
            == RAdaHyperparameters.with { $0.domainMemory = DomainMemory() })
        let old = #"{"capacity":3,"threshold":0.05,"key":"batch-mean","keyMomentum":0.8,"minimumBatch":8,"minimumPerClass":4}"#
        #expect(try JSONDecoder().decode(DomainMemory.self, from: Data(old.utf8)).maxBytes == DomainMemory.maxBytesLimit)
    }

    /// Hostile memories in a checkpoint: counts that cannot have happened, more states than the
    /// capacity, a key flag that is not 0 or 1, a stored state of another stream or with a memory
    /// of its own, a memory in an older version or under settings without one: each refused, the
    /// stream unchanged.
    @Test func hostileMemoriesAreRefused() throws {
        var stream = try Self.stream(Self.memory(capacity: 2))
        for axis in [0, 1, 2] { _ = try stream.process(Self.batch(axis: axis, 0)) }
        let data = try stream.checkpointData()
        var target = try Self.stream(Self.memory(capacity: 2))
        typealias V = CheckpointValidationTests
        func bank(_ edit: @escaping (inout [String: Any]) -> Void) throws -> Data {
            try V.editedHeader(data) { header in
                var bank = header["domainBank"] as! [String: Any]
                edit(&bank)
                header["domainBank"] = bank
            }
        }
        V.expectInvalid(try bank { $0["restores"] = 3 }, into: &target, "restores above shifts")
        V.expectInvalid(try bank { $0["batches"] = 0 }, into: &target, "no batches")
        V.expectInvalid(try bank { $0["lastUsed"] = [0, 1, 2] }, into: &target, "more states than the capacity")
        V.expectInvalid(try bank { $0["lastUsed"] = [0, 99] }, into: &target, "last used after the last batch")
        V.expectInvalid(try V.editedHeader(data) { $0["formatVersion"] = 5 }, into: &target, "a memory in version 5")
        V.expectInvalid(try V.tampered(data) { $0.add("domains.key_present", shape: [1], values: [2]) }, into: &target, "flag 2")
        V.expectInvalid(try V.tampered(data) { $0.add("domains.0.key", shape: [1, Self.d], values: [Float](repeating: .nan, count: Self.d)) },
                        into: &target, "NaN key")
        V.expectInvalid(try V.tampered(data) { $0.add("domains.0.state", bytes: Data([1, 2, 3])) }, into: &target, "garbage state")
        V.expectInvalid(try V.tampered(data) { $0.add("domains.1.state", bytes: data) }, into: &target, "a state with a memory of its own")
        let other = try StreamState(labels: ["x", "b", "c"], textEmbeddings: Self.text, logitScale: 20, heads: 2,
                                    hyperparameters: Self.memory(capacity: 2), seed: 3)
        V.expectInvalid(try V.tampered(data) { $0.add("domains.0.state", bytes: try other.checkpointData()) }, into: &target, "another stream's state")
        var off = try Self.stream()
        #expect(throws: AdaptationError.self) { try off.restore(from: data) }
        V.expectInvalid(try V.editedSetting(data, "domainMemory", "capacity", 0), into: &target, "a memory while it is off")
        V.expectInvalid(try V.editedSetting(data, "domainMemory", "maxBytes", 1), into: &target, "a memory whose maxBytes holds no state")
    }
}
