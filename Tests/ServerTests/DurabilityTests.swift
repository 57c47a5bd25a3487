import Adaptation
import Foundation
import Hummingbird
import RadaNumerics
import Testing
import StreamStore
@testable import Server

@Suite("Durability: journal, snapshots, restart, checkpoints, eviction")
struct DurabilityTests {
    /// Copies a live data directory between two acknowledged requests: exactly what a kill -9 at
    /// that moment leaves on disk (every acknowledged step is fsynced before its response).
    static func crashImage(of directory: URL) throws -> URL {
        let copy = directory.deletingLastPathComponent().appendingPathComponent("crash-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: directory, to: copy)
        return copy
    }

    /// A memory of domains that takes every batch for a shift (threshold 10⁻⁶, one image is enough).
    static let memory = DomainMemory(capacity: 3, threshold: 1e-6, key: .batchMean, minimumBatch: 1)
    static let memoryJSON = #"{"domainMemory":{"capacity":3,"threshold":1e-6,"key":"batch-mean","keyMomentum":0.8,"minimumBatch":1,"minimumPerClass":4}}"#
    /// Request r of stream v: three batches that recur, so that stored domains come back.
    static func domainBatch(_ r: Int) -> [Data] { TestData.batch([0, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1][r], stream: 3) }

    @Test("after a crash (no shutdown snapshot) a restarted server continues exactly as an uninterrupted twin", arguments: [3, 1000])
    func crashRecovery(snapshotEvery: Int) async throws {
        let first = TestServer { $0.snapshotEveryRecords = snapshotEvery }
        let crashed = try await first.run { client in
            _ = try await client.createStream("s")
            _ = try await client.createStream("t", labels: ["red", "green", "blue"])
            // Centring's running mean is state too: snapshots carry it, the journal rebuilds it.
            _ = try await client.createStream("u", hyperparameters: #"{"centring":{"weight":1,"memoryImages":5,"entropyThreshold":0}}"#)
            // So is the memory of domains: every batch a shift, domains that return restored.
            _ = try await client.createStream("v", hyperparameters: Self.memoryJSON)
            for r in 0..<7 {
                _ = try await client.classify("s", TestData.batch(r), query: r == 4 ? "?adapt=false" : "")
                _ = try await client.classify("t", TestData.batch(r, stream: 1))
                _ = try await client.classify("u", TestData.batch(r, stream: 2))
                _ = try await client.classify("v", Self.domainBatch(r))
            }
            return try Self.crashImage(of: first.dataDirectory)
        }
        // A torn record at the end of a journal (a crash mid-append) must be ignored.
        let journal = try #require(DataLayout(root: crashed).stream(client: "alice", id: "s").journalSegments().last).url
        let handle = try FileHandle(forWritingTo: journal)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([200, 1, 0, 0, 7, 7, 7, 7, 1, 2, 3]))
        try handle.close()

        try await TestServer(dataDirectory: crashed).run { client in
            var twinS = try await TestData.twin()
            var twinT = try await TestData.twin(labels: ["red", "green", "blue"])
            var centred = RAdaHyperparameters()
            centred.centring.weight = 1
            centred.centring.memoryImages = 5
            centred.centring.entropyThreshold = 0
            var twinU = try await TestData.twin(hyperparameters: centred)
            var withMemory = RAdaHyperparameters()
            withMemory.domainMemory = Self.memory
            var twinV = try await TestData.twin(hyperparameters: withMemory)
            for r in 0..<7 {
                _ = try await TestData.expected(&twinS, TestData.batch(r), adapt: r != 4)
                _ = try await TestData.expected(&twinT, TestData.batch(r, stream: 1))
                _ = try await TestData.expected(&twinU, TestData.batch(r, stream: 2))
                _ = try await TestData.expected(&twinV, Self.domainBatch(r))
            }
            #expect(twinV.domains.restores >= 2 && twinV.domains.entries.count == 3, "the memory was used before the crash")
            for r in 7..<11 {
                #expect(try await client.classify("s", TestData.batch(r)) == (try await TestData.expected(&twinS, TestData.batch(r))), "s request \(r)")
                #expect(try await client.classify("t", TestData.batch(r, stream: 1)) == (try await TestData.expected(&twinT, TestData.batch(r, stream: 1))), "t request \(r)")
                #expect(try await client.classify("u", TestData.batch(r, stream: 2)) == (try await TestData.expected(&twinU, TestData.batch(r, stream: 2))), "u request \(r)")
                #expect(try await client.classify("v", Self.domainBatch(r)) == (try await TestData.expected(&twinV, Self.domainBatch(r))), "v request \(r)")
            }
            let memory = try client.object(try await client.send(.get, "/v1/streams/v"))["domainMemory"] as? [String: Any]
            #expect(memory?["storedStates"] as? Int == twinV.domains.entries.count && memory?["restores"] as? Int == twinV.domains.restores
                    && memory?["shifts"] as? Int == twinV.domains.shifts, "\(memory ?? [:])")
        }
    }

    @Test("journal frames: round trip, and a torn or corrupted tail is dropped")
    func journalFrames() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString).bin")
        let journal = try Journal(url: url)
        let records = (0..<3).map { i in
            JournalRecord(sequence: UInt64(i), adapt: i != 1, features: Matrix(rows: 2, cols: 3, storage: (0..<6).map { Float($0) * 0.5 + Float(i) }))
        }
        for record in records { try journal.append(record.payload()) }
        func decoded(_ payloads: [[UInt8]]) -> [JournalRecord] { payloads.compactMap { JournalRecord(payload: $0[...]) } }
        var (read, length) = try Journal.read(url) { JournalRecord(payload: $0[...]) != nil }
        #expect(decoded(read) == records)
        #expect(length == 3 * (8 + 17 + 24))
        var bytes = try Data(contentsOf: url)
        bytes[length - 5] ^= 0x40  // flip a bit in the last record's payload
        try bytes.write(to: url)
        (read, length) = try Journal.read(url) { JournalRecord(payload: $0[...]) != nil }
        #expect(decoded(read) == Array(records.prefix(2)) && length == 2 * 49)
        try Journal.cut(url, to: length)
        #expect(try Data(contentsOf: url).count == 98)
    }

    @Test("journal records: time and idempotency key round trip; records of older versions still read; a wrong key length or byte is refused")
    func keyedRecords() throws {
        let features = Matrix(rows: 1, cols: 2, storage: [1.5, -2])
        let old = JournalRecord(sequence: 7, adapt: true, features: features)
        #expect(old.payload().count == 17 + 8, "no time, no key: the format of the versions before histories")
        #expect(JournalRecord(payload: old.payload()[...]) == old)
        let timed = JournalRecord(sequence: 7, adapt: true, features: features, time: 1_764_000_000_000)
        #expect(timed.payload().count == 17 + 8 + 8)
        #expect(JournalRecord(payload: timed.payload()[...]) == timed)
        let keyed = JournalRecord(sequence: 7, adapt: true, features: features, time: 1_764_000_000_000, idempotencyKey: "retry-me~!")
        let bytes = keyed.payload()
        #expect(bytes.count == 17 + 8 + 8 + 1 + 10, "time, then the key's length and bytes")
        #expect(JournalRecord(payload: bytes[...]) == keyed)
        var longer = bytes
        longer[33] = 11
        #expect(JournalRecord(payload: longer[...]) == nil, "length byte beyond the payload")
        var space = bytes
        space[34] = 0x20
        #expect(JournalRecord(payload: space[...]) == nil, "a space is not a key byte")
        #expect(JournalRecord(payload: (timed.payload() + [0])[...]) == nil, "an empty key")
        #expect(JournalRecord(payload: (timed.payload() + [1, 0x41, 0x41])[...]) == nil, "bytes after the key")
    }

    @Test("graceful restart: streams, counters and checkpoints persist")
    func gracefulRestart() async throws {
        let server = TestServer()
        try await Self.gracefulRestart(first: server, second: TestServer(dataDirectory: server.dataDirectory))
    }

    /// Two servers on one store, one after the other.
    static func gracefulRestart(first server: TestServer, second: TestServer) async throws {
        try await server.run { client in
            _ = try await client.createStream("s")
            for r in 0..<3 { _ = try await client.classify("s", TestData.batch(r)) }
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"after3\"}").status == .created)
        }
        try await second.run { client in
            var twin = try await TestData.twin()
            for r in 0..<3 { _ = try await TestData.expected(&twin, TestData.batch(r)) }
            let info = try client.object(try await client.send(.get, "/v1/streams/s"))
            #expect(info["requests"] as? Int == 3)
            #expect(info["checkpoints"] as? [String] == ["after3"])
            #expect(try await client.classify("s", TestData.batch(3)) == (try await TestData.expected(&twin, TestData.batch(3))))
        }
    }

    @Test("checkpoints: create, list, download, restore, upload to another server, delete")
    func checkpoints() async throws {
        try await Self.checkpoints(first: TestServer(), second: TestServer())
    }

    /// The checkpoint round trip on `first`, then an upload to `second` (a server of another store).
    static func checkpoints(first: TestServer, second: TestServer) async throws {
        let images = (0..<6).map { TestData.batch($0) }
        let (download, afterCheckpoint) = try await first.run { client -> (Data, ClassifyReply) in
            _ = try await client.createStream("s")
            for r in 0..<3 { _ = try await client.classify("s", images[r]) }
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"c3\"}").status == .created)
            let next = try await client.classify("s", images[3])
            _ = try await client.classify("s", images[4])
            let list = try client.object(try await client.send(.get, "/v1/streams/s/checkpoints"))
            let entries = try #require(list["checkpoints"] as? [[String: Any]])
            #expect(entries.count == 1 && entries[0]["name"] as? String == "c3" && (entries[0]["bytes"] as? Int ?? 0) > 1000)
            let file = try await client.send(.get, "/v1/streams/s/checkpoints/c3")
            #expect(file.headers[.contentType] == "application/octet-stream")
            let data = Data(buffer: file.body)
            #expect(try StreamState(checkpoint: data).counters.batchesSeen == 3)

            let restored = try client.object(try await client.send(.post, "/v1/streams/s/checkpoints/c3/restore"))
            #expect(restored["requests"] as? Int == 3)
            #expect(try await client.classify("s", images[3]) == next, "restoring replays the same future")
            #expect(try await client.send(.delete, "/v1/streams/s/checkpoints/c3").status == .noContent)
            #expect(try await client.send(.get, "/v1/streams/s/checkpoints/c3").status == .notFound)
            return (data, next)
        }
        // Moving the adaptation to another server: same class set, upload, restore.
        try await second.run { client in
            _ = try await client.createStream("moved")
            let upload = try await client.send(.put, "/v1/streams/moved/checkpoints/imported", body: download, contentType: "application/octet-stream")
            #expect(upload.status == .created)
            #expect(try await client.send(.post, "/v1/streams/moved/checkpoints/imported/restore").status == .ok)
            #expect(try await client.classify("moved", images[3]) == afterCheckpoint)
            _ = try await client.createStream("other", labels: ["x", "y"])
            let mismatch = try await client.send(.put, "/v1/streams/other/checkpoints/imported", body: download, contentType: "application/octet-stream")
            #expect(mismatch.status == .conflict, "a checkpoint of another class set does not fit")
        }
    }

    @Test("idle streams are evicted beyond the memory budget (LRU) and come back on demand unchanged")
    func eviction() async throws {
        try await Self.eviction { TestServer($0) }
    }

    /// Four streams on a server whose budget holds two.
    static func eviction(_ server: (_ budget: (inout ServerConfiguration) -> Void) throws -> TestServer) async throws {
        let perStream = try await TestData.twin().memoryBytes
        let server = try server { $0.memoryBudgetBytes = 2 * perStream + perStream / 2 }
        try await server.run { client in
            var twins: [StreamState] = []
            for s in 0..<4 {
                _ = try await client.createStream("s\(s)")
                twins.append(try await TestData.twin())
            }
            for r in 0..<3 {
                for s in 0..<4 {
                    let expected = try await TestData.expected(&twins[s], TestData.batch(r, stream: s))
                    #expect(try await client.classify("s\(s)", TestData.batch(r, stream: s)) == expected, "stream \(s) request \(r)")
                }
            }
            // The last request's step (and the eviction after it) runs behind its answer.
            func value(_ name: String) async throws -> Double? { try await client.metric(name) }
            var live = try await value("rada_streams_live_count")
            for _ in 0..<200 where live != 2 {
                try await Task.sleep(for: .milliseconds(10))
                live = try await value("rada_streams_live_count")
            }
            #expect(live == 2)
            #expect((try await value("rada_streams_evicted_total") ?? 0) >= 8)
        }
    }
}
