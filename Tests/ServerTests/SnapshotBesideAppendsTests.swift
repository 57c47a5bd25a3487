import Adaptation
import Dispatch
import Foundation
import SafeTensors
@testable import Server
import StreamStore
import Synchronization
import Testing

/// Holds every snapshot a handle writes until opened (or until `limit` has passed, which the
/// test then sees in `timedOut`): a snapshot that takes as long as the test wants.
final class SnapshotGate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let closed = Atomic(true)
    /// Snapshots waiting at the gate now.
    let held = Atomic(0)
    let timedOut = Atomic(false)
    let limit: Double

    init(limit: Double = 20) { self.limit = limit }

    func pass() {
        guard closed.load(ordering: .acquiring) else { return }
        held.add(1, ordering: .relaxed)
        defer { held.subtract(1, ordering: .relaxed) }
        if semaphore.wait(timeout: .now() + limit) == .timedOut { timedOut.store(true, ordering: .relaxed) }
    }

    func open() {
        closed.store(false, ordering: .releasing)
        for _ in 0..<held.load(ordering: .relaxed) { semaphore.signal() }
    }

    /// Waits (polling) until `count` snapshots are held; false after `seconds`.
    func waitHeld(_ count: Int, seconds: Double = 10) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while held.load(ordering: .relaxed) < count {
            guard Date() < deadline else { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }
}

/// A store whose handles hold their snapshots at a gate; everything else goes straight through.
struct GatedStore: StreamStore {
    let inner: any StreamStore
    let gate: SnapshotGate

    var name: String { "gated \(inner.name)" }
    func create(_ key: StreamKey, metadata: Data, snapshot: Data, streamLimit: Int?, byteLimit: Int?) throws -> any StreamHandle {
        GatedHandle(inner: try inner.create(key, metadata: metadata, snapshot: snapshot, streamLimit: streamLimit, byteLimit: byteLimit), gate: gate)
    }
    func open(_ key: StreamKey, accept: ([UInt8]) -> Bool) throws -> OpenedStream {
        var opened = try inner.open(key, accept: accept)
        opened.handle = GatedHandle(inner: opened.handle, gate: gate)
        return opened
    }
    func exists(_ key: StreamKey) throws -> Bool { try inner.exists(key) }
    func streams(client: String, after: String?, limit: Int) throws -> [(id: String, metadata: Data)] {
        try inner.streams(client: client, after: after, limit: limit)
    }
    func streamCount(client: String) throws -> Int { try inner.streamCount(client: client) }
    func storedBytes(client: String) throws -> Int { try inner.storedBytes(client: client) }
    func removeUnopened(_ key: StreamKey) throws -> Bool { try inner.removeUnopened(key) }
    func close() { inner.close() }
}

final class GatedHandle: StreamHandle {
    let inner: any StreamHandle
    let gate: SnapshotGate

    init(inner: any StreamHandle, gate: SnapshotGate) {
        self.inner = inner
        self.gate = gate
    }

    func append(sequence: UInt64, payload: [UInt8]) throws { try inner.append(sequence: sequence, payload: payload) }
    func prepareSnapshot(sequence: UInt64) throws { try inner.prepareSnapshot(sequence: sequence) }
    func snapshot(sequence: UInt64, data: Data) throws {
        gate.pass()
        try inner.snapshot(sequence: sequence, data: data)
    }
    func checkpoints() throws -> [StoredCheckpoint] { try inner.checkpoints() }
    func checkpoint(named name: String) throws -> Data? { try inner.checkpoint(named: name) }
    func checkpointReader(named name: String) throws -> (any CheckpointReader)? { try inner.checkpointReader(named: name) }
    func saveCheckpoint(named name: String, data: Data, byteLimit: Int?) throws {
        try inner.saveCheckpoint(named: name, data: data, byteLimit: byteLimit)
    }
    func deleteCheckpoint(named name: String) throws -> Bool { try inner.deleteCheckpoint(named: name) }
    func delete() throws { try inner.delete() }
    func verifyOwnership() throws { try inner.verifyOwnership() }
    func release() { inner.release() }
}

@Suite("Snapshots written beside new journal records: the records survive them, requests do not wait for them")
struct SnapshotBesideAppendsTests {
    static func accept(_ payload: [UInt8]) -> Bool { JournalRecord(payload: payload[...]) != nil }

    static func store(_ kind: TestStore) throws -> any StreamStore {
        switch kind {
        case .local: LocalStreamStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("rada-beside-\(UUID().uuidString)"))
        case .postgres: try ScratchPostgres.store(try ScratchPostgres.isolatedURL(), server: "beside")
        }
    }

    @Test("store: records appended after prepareSnapshot, before or while it is written, outlive it; a crash before it lands loses none",
          arguments: TestStore.available)
    func storeKeepsLaterRecords(_ kind: TestStore) async throws {
        let store = try Self.store(kind)
        defer { store.close() }
        let payload = PostgresStoreTests.payload
        // Written beside appends from another thread.
        let key = StreamKey(client: "alice", id: "beside")
        let handle = try store.create(key, metadata: Data("{}".utf8), snapshot: Data([0]))
        for sequence in UInt64(0)..<4 { try handle.append(sequence: sequence, payload: payload(sequence)) }
        try handle.prepareSnapshot(sequence: 4)
        try handle.append(sequence: 4, payload: payload(4))
        let big = Data(repeating: 5, count: 4 << 20)
        async let written: Void = Task.detached { try handle.snapshot(sequence: 4, data: big) }.value
        for sequence in UInt64(5)..<12 { try handle.append(sequence: sequence, payload: payload(sequence)) }
        try await written
        handle.release()
        var opened = try store.open(key, accept: Self.accept)
        #expect(opened.snapshots.map(\.sequence) == [4], "\(store.name)")
        #expect(try opened.snapshots[0].read() == big)
        #expect(PostgresStoreTests.sequences(opened) == Array(4..<12), "\(store.name): the records below 4 went with the snapshot, none after it")
        opened.handle.release()

        // A crash between the prepare and the landing: the old snapshot and every record, in order.
        let crashed = StreamKey(client: "alice", id: "crashed")
        let first = try store.create(crashed, metadata: Data("{}".utf8), snapshot: Data([0]))
        for sequence in UInt64(0)..<3 { try first.append(sequence: sequence, payload: payload(sequence)) }
        try first.prepareSnapshot(sequence: 3)
        for sequence in UInt64(3)..<5 { try first.append(sequence: sequence, payload: payload(sequence)) }
        first.release()
        opened = try store.open(crashed, accept: Self.accept)
        #expect(opened.snapshots.map(\.sequence) == [0], "\(store.name)")
        #expect(PostgresStoreTests.sequences(opened) == Array(0..<5), "\(store.name)")
        // The reopened handle appends after the newest record, and its own snapshot keeps only what follows.
        try opened.handle.append(sequence: 5, payload: payload(5))
        try opened.handle.prepareSnapshot(sequence: 6)
        try opened.handle.append(sequence: 6, payload: payload(6))
        try opened.handle.snapshot(sequence: 6, data: Data([6]))
        opened.handle.release()
        opened = try store.open(crashed, accept: Self.accept)
        #expect(opened.snapshots.map(\.sequence) == [6] && PostgresStoreTests.sequences(opened) == [6], "\(store.name)")
        try opened.handle.delete()
        try store.open(key, accept: Self.accept).handle.delete()
    }

    @Test("local store: a legacy journal.bin is read before the segments and goes with the first snapshot; a torn record ends the journal")
    func localSegments() throws {
        let store = try Self.store(.local) as! LocalStreamStore
        let key = StreamKey(client: "alice", id: "old")
        let payload = PostgresStoreTests.payload
        let directory = store.layout.stream(client: key.client, id: key.id)
        try store.create(key, metadata: Data("{}".utf8), snapshot: Data([0])).release()
        // The layout of versions before segments: one journal.bin.
        try FileManager.default.removeItem(at: directory.journalURL(generation: 0))
        let legacy = try Journal(url: directory.legacyJournalURL)
        for sequence in UInt64(0)..<3 { try legacy.append(payload(sequence)) }
        var opened = try store.open(key, accept: Self.accept)
        #expect(PostgresStoreTests.sequences(opened) == [0, 1, 2])
        try opened.handle.append(sequence: 3, payload: payload(3))
        #expect(directory.journalSegments().map(\.generation) == [nil, 0], "new records go to a numbered segment after it")
        opened = try store.open(key, accept: Self.accept)
        #expect(PostgresStoreTests.sequences(opened) == [0, 1, 2, 3])
        try opened.handle.prepareSnapshot(sequence: 4)
        #expect(directory.journalSegments().map(\.generation) == [nil, 0, 1])
        try opened.handle.snapshot(sequence: 4, data: Data([4]))
        #expect(directory.journalSegments().map(\.generation) == [1], "the legacy file and segment 0 held only records below 4")
        // Preparing again with nothing appended keeps the empty segment.
        try opened.handle.prepareSnapshot(sequence: 4)
        #expect(directory.journalSegments().map(\.generation) == [1])

        // A torn record in a segment that has a successor (possible only by damage): reading
        // ends there, and the later segment goes, so nothing appended afterwards is unreadable.
        for sequence in UInt64(4)..<6 { try opened.handle.append(sequence: sequence, payload: payload(sequence)) }
        try opened.handle.prepareSnapshot(sequence: 6)
        try opened.handle.append(sequence: 6, payload: payload(6))
        let segment1 = directory.journalURL(generation: 1)
        let torn = try FileHandle(forWritingTo: segment1)
        try torn.seekToEnd()
        try torn.write(contentsOf: Data([200, 1, 0, 0, 7, 7, 7, 7, 1, 2, 3]))
        try torn.close()
        opened = try store.open(key, accept: Self.accept)
        #expect(PostgresStoreTests.sequences(opened) == [4, 5])
        #expect(directory.journalSegments().map(\.generation) == [1])
        #expect(try Data(contentsOf: segment1).count == Journal.read(segment1, accept: Self.accept).validLength)
        try opened.handle.append(sequence: 6, payload: payload(6))
        #expect(PostgresStoreTests.sequences(try store.open(key, accept: Self.accept)) == [4, 5, 6])
    }

    @Test("server: while a stream's snapshot is being written its requests are answered, and a crash before or after it lands loses none")
    func servedWhileSnapshotting() async throws {
        let gate = SnapshotGate()
        let first = TestServer {
            $0.snapshotEveryRecords = 2
            $0.store = GatedStore(inner: LocalStreamStore(root: $0.dataDirectory), gate: gate)
        }
        let directory = DataLayout(root: first.dataDirectory).stream(client: "alice", id: "s")
        let (whileHeld, afterLanding) = try await first.run { client in
            _ = try await client.createStream("s")
            var twin = try await TestData.twin()
            for r in 0..<2 { #expect(try await client.classify("s", TestData.batch(r)) == (try await TestData.expected(&twin, TestData.batch(r)))) }
            // The snapshot at 2 has started and waits at the gate, off the stream's lock.
            #expect(try await gate.waitHeld(1))
            for r in 2..<6 {
                #expect(try await client.classify("s", TestData.batch(r)) == (try await TestData.expected(&twin, TestData.batch(r))), "request \(r)")
            }
            #expect(gate.held.load(ordering: .relaxed) == 1 && !gate.timedOut.load(ordering: .relaxed),
                    "four requests answered while the snapshot was held, none waited for it; no second snapshot started")
            #expect(directory.snapshots().map(\.sequence) == [0])
            let whileHeld = try DurabilityTests.crashImage(of: first.dataDirectory)
            gate.open()
            func landed(_ sequence: UInt64) async throws -> Bool {
                let deadline = Date().addingTimeInterval(10)
                while directory.journalSegments().count > 1 || directory.snapshots().map(\.sequence) != [sequence], Date() < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                return directory.snapshots().map(\.sequence) == [sequence] && directory.journalSegments().count == 1
            }
            #expect(try await landed(2), "snapshot 2 and one segment (requests 2-5): \(directory.snapshots()) \(directory.journalSegments())")
            _ = try await client.classify("s", TestData.batch(6))  // due again: a snapshot at 7 starts and lands
            #expect(try await landed(7))
            // Counted once the write has returned, a moment after its files landed.
            let counted = Date().addingTimeInterval(10)
            while metricValue("rada_snapshot_duration_seconds_count", in: first.metrics.exposition()) != 2, Date() < counted {
                try await Task.sleep(for: .milliseconds(5))
            }
            let metrics = first.metrics.exposition()
            #expect(metricValue("rada_snapshot_duration_seconds_count", in: metrics) == 2 && metricValue("rada_snapshot_failures_total", in: metrics) == 0,
                    "both periodic snapshots counted, neither failed")
            return (whileHeld, try DurabilityTests.crashImage(of: first.dataDirectory))
        }
        for (image, requests) in [(whileHeld, 6), (afterLanding, 7)] {
            try await TestServer(dataDirectory: image).run { client in
                var twin = try await TestData.twin()
                for r in 0..<requests { _ = try await TestData.expected(&twin, TestData.batch(r)) }
                for r in requests..<(requests + 3) {
                    #expect(try await client.classify("s", TestData.batch(r)) == (try await TestData.expected(&twin, TestData.batch(r))),
                            "after a crash with \(requests) requests served, request \(r)")
                }
            }
        }
    }
}
