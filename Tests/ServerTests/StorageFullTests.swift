import Foundation
import Adaptation
import Hummingbird
import PostgresNIO
@testable import PostgresStreamStore
import StreamStore
import Synchronization
import Testing
@testable import Server
#if canImport(Glibc)
import Glibc
#endif

/// A small file system of its own (tmpfs) that a test can fill: a real ENOSPC, not a simulated one.
/// Mounting needs root (CAP_SYS_ADMIN), which `make test` and CI have; elsewhere the suite is
/// reported skipped with this reason.
final class SmallDisk: Sendable {
    let url: URL
    private let mounted = Mutex(true)

    static let canMount: Bool = {
        (try? SmallDisk(bytes: 1 << 20)) != nil  // unmounted as it goes
    }()

    init(bytes: Int) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("rada-small-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", url.path]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            try? FileManager.default.removeItem(at: url)
            throw StreamStoreError.unavailable("cannot mount a tmpfs (not root?)")
        }
    }

    var free: Int { StorageRoom.freeBytes(at: url) ?? 0 }

    /// Writes a filler file until at most `bytes` (rounded down to whole pages) are free.
    func fill(leaving bytes: Int) throws {
        let fd = open(url.appendingPathComponent("filler-\(UUID().uuidString)").path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 1, count: 4096)
        while free > bytes {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, min(4096, free - bytes)) }
            if n <= 0 { break }  // full
        }
    }

    /// Removes the filler files.
    func empty() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: url.path) where name.hasPrefix("filler-") {
            try FileManager.default.removeItem(at: url.appendingPathComponent(name))
        }
    }

    func unmount() {
        guard mounted.withLock({ was in defer { was = false }; return was }) else { return }
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-l", url.path]  // lazily: a server or PostgreSQL may still hold a file there
        try? umount.run()
        umount.waitUntilExit()
        try? FileManager.default.removeItem(at: url)
    }

    deinit { unmount() }
}

@Suite("A full disk: 507, nothing changed, snapshots retried at their pace, a bounded journal, the reserve", .serialized,
       .enabled(if: SmallDisk.canMount, "mounting a tmpfs needs root"))
struct StorageFullTests {
    static func classifyReply(_ client: Client, _ id: String, _ images: [Data]) async throws -> Reply {
        try await client.send(.post, "/v1/streams/\(id)/classify", json: Client.imagesJSON(images))
    }

    /// Classifies request after request on a full disk, each answer checked against the twin,
    /// until one is refused: the last page of a file may still take a few records, so the disk
    /// refuses the first write that needs a new one. Returns that reply and its request number.
    static func classifyUntilRefused(
        _ client: Client, _ id: String, twin: inout StreamState, from first: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (Reply, Int) {
        for r in first..<(first + 500) {
            let reply = try await classifyReply(client, id, TestData.batch(r))
            guard reply.status == .ok else { return (reply, r) }
            let served = try JSONDecoder().decode(ClassifyReply.self, from: Data(buffer: reply.body))
            #expect(served == (try await TestData.expected(&twin, TestData.batch(r))), "request \(r)", sourceLocation: sourceLocation)
        }
        Issue.record("500 requests fitted on a full disk", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    static func requests(_ client: Client, _ id: String) async throws -> Int? {
        try client.object(try await client.send(.get, "/v1/streams/\(id)"))["requests"] as? Int
    }

    @Test("a step on a full disk is a 507 that changes nothing; once room is made the stream goes on as its twin, also after a crash")
    func fullDiskRefusesStep() async throws {
        let disk = try SmallDisk(bytes: 4 << 20)
        let server = TestServer(dataDirectory: disk.url.appendingPathComponent("data")) {
            $0.snapshotEveryRecords = 1000
            $0.diskReserveBytes = 0
        }
        let (crashed, stopped, next) = try await server.run { client in
            var twin = try await TestData.twin()
            #expect(try await client.createStream("s").status == .created)
            #expect(try await client.classify("s", TestData.batch(0)) == (try await TestData.expected(&twin, TestData.batch(0))))
            let saved = try await client.stateBytes("s", tag: "upload")
            try disk.fill(leaving: 0)
            let (reply, r) = try await Self.classifyUntilRefused(client, "s", twin: &twin, from: 1)
            #expect(reply.status.code == 507 && reply.errorCode == "storage_full" && reply.headers[.retryAfter] == "10",
                    "\(reply.status) \(String(buffer: reply.body))")
            #expect(try await Self.requests(client, "s") == r, "the refused request was not applied")
            // A reset and an upload write a snapshot or a file first: refused whole as well.
            let reset = try await client.send(.post, "/v1/streams/s/reset")
            #expect(reset.status.code == 507 && reset.errorCode == "storage_full", "\(reset.status) \(String(buffer: reset.body))")
            let upload = try await client.send(.put, "/v1/streams/s/checkpoints/up", body: saved, contentType: "application/octet-stream")
            #expect(upload.status.code == 507 && upload.errorCode == "storage_full", "\(upload.status) \(String(buffer: upload.body))")
            #expect(try await Self.requests(client, "s") == r)
            try disk.empty()
            let listed = try client.object(try await client.send(.get, "/v1/streams/s/checkpoints"))["checkpoints"] as? [[String: Any]]
            #expect(listed?.isEmpty == true, "no part of the upload was kept")
            #expect(try await client.classify("s", TestData.batch(r)) == (try await TestData.expected(&twin, TestData.batch(r))))
            // The crash image lives on the big disk: the journal must hold no torn record.
            return (try DurabilityTests.crashImage(of: server.dataDirectory), twin, r + 1)
        }
        try await TestServer(dataDirectory: crashed).run { (client: Client) async throws -> Void in
            var twin = stopped
            #expect(try await client.classify("s", TestData.batch(next)) == (try await TestData.expected(&twin, TestData.batch(next))))
        }
    }

    @Test("failing periodic snapshots are retried every --snapshot-every records; at the journal limit a request is refused until one lands")
    func journalLimit() async throws {
        let disk = try SmallDisk(bytes: 24 << 20)
        var server = TestServer(dataDirectory: disk.url.appendingPathComponent("data")) {
            $0.snapshotEveryRecords = 4
            $0.diskReserveBytes = 0
        }
        // D = 256: a snapshot of about 5 MB, a journal record of about 1 KB.
        server.backend = PixelStatisticsBackend(dimension: 256, logitScale: 50)
        let root = server.dataDirectory
        let limit = Int(ServerConfiguration.journalLimit(snapshotEvery: 4))
        #expect(limit == 32)
        try await server.run { client in
            #expect(try await client.createStream("s").status == .created)
            try disk.fill(leaving: 2 << 20)  // room for journal records, none for a snapshot
            for r in 0..<limit {
                let reply = try await Self.classifyReply(client, "s", [TestData.batch(r)[0]])
                #expect(reply.status == .ok, "request \(r): \(reply.status) \(String(buffer: reply.body))")
                // Attempts at records 4, 8, …, 32: one per --snapshot-every records, not one per
                // request. Each is awaited before the next request: one still in flight when the
                // next is due defers that one a record (by design), which would make the count
                // depend on how fast this machine fails a write.
                if (r + 1) % 4 == 0 {
                    try await client.waitForMetric("rada_snapshot_failures_total") { $0 >= Double((r + 1) / 4) }
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await client.metric("rada_snapshot_failures_total") == Double(limit / 4))
            let refused = try await Self.classifyReply(client, "s", [TestData.batch(99)[0]])
            #expect(refused.status.code == 507 && refused.errorCode == "storage_full", "\(refused.status) \(String(buffer: refused.body))")
            #expect(try await Self.requests(client, "s") == limit)
            try disk.empty()
            #expect(try await Self.classifyReply(client, "s", [TestData.batch(99)[0]]).status == .ok)
            #expect(try await Self.requests(client, "s") == limit + 1)
            // The snapshot written before that request holds the whole journal: the segments before it are gone.
            let directory = DataLayout(root: root).stream(client: "alice", id: "s")
            #expect(directory.snapshots().map(\.sequence) == [UInt64(limit)])
            #expect(directory.journalSegments().count == 1)
        }
    }

    @Test("new streams and checkpoints may not take the reserve; steps may")
    func reserve() async throws {
        let disk = try SmallDisk(bytes: 16 << 20)
        let server = TestServer(dataDirectory: disk.url.appendingPathComponent("data")) {
            $0.snapshotEveryRecords = 1000
            $0.diskReserveBytes = 8 << 20
        }
        try await server.run { client in
            #expect(try await client.createStream("s").status == .created)
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: #"{"name":"a"}"#).status == .created)
            try disk.fill(leaving: (8 << 20) + 4096)  // a page above the reserve: a checkpoint does not fit
            let saved = try await client.send(.post, "/v1/streams/s/checkpoints", json: #"{"name":"b"}"#)
            #expect(saved.status.code == 507 && saved.errorCode == "storage_full", "\(saved.status) \(String(buffer: saved.body))")
            let created = try await client.createStream("t")
            #expect(created.status.code == 507 && created.errorCode == "storage_full", "\(created.status) \(String(buffer: created.body))")
            #expect(try await Self.classifyReply(client, "s", TestData.batch(0)).status == .ok, "a step may use the reserve")
            let names = try client.object(try await client.send(.get, "/v1/streams/s/checkpoints"))["checkpoints"] as? [[String: Any]]
            #expect(names?.compactMap { $0["name"] as? String } == ["a"])
            #expect(try await client.send(.get, "/v1/streams/t").status == .notFound)
            try disk.empty()
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: #"{"name":"b"}"#).status == .created)
        }
    }

    @Test("eviction goes on when its snapshot cannot be written: the memory budget holds, and the reload replays the journal exactly")
    func evictionOnFullDisk() async throws {
        let disk = try SmallDisk(bytes: 24 << 20)
        var server = TestServer(dataDirectory: disk.url.appendingPathComponent("data")) {
            $0.snapshotEveryRecords = 1000
            $0.diskReserveBytes = 0
            $0.memoryBudgetBytes = 1  // every idle stream is evicted
        }
        let backend = PixelStatisticsBackend(dimension: 256, logitScale: 50)
        server.backend = backend
        let root = server.dataDirectory
        try await server.run { client in
            var twins = [try await TestData.twin(backend: backend), try await TestData.twin(backend: backend)]
            for s in 0..<2 { #expect(try await client.createStream("s\(s)").status == .created) }
            try disk.fill(leaving: 2 << 20)
            for r in 0..<4 {
                for s in 0..<2 {
                    let expected = try await TestData.expected(&twins[s], TestData.batch(r, stream: s), backend: backend)
                    #expect(try await client.classify("s\(s)", TestData.batch(r, stream: s)) == expected, "stream \(s) request \(r)")
                }
            }
            try await client.waitForMetric("rada_streams_evicted_total") { $0 >= 7 }
            let directory = DataLayout(root: root).stream(client: "alice", id: "s0")
            #expect(directory.snapshots().map(\.sequence) == [0], "no snapshot fit: the journal holds every step")
        }
    }

    @Test("PostgreSQL: the database's disk full (SQLSTATE 53100) is a 507 that changes nothing", .enabled(if: ScratchPostgres.url != nil, ScratchPostgres.skipReason))
    func postgresDiskFull() async throws {
        let disk = try SmallDisk(bytes: 8 << 20)
        let location = disk.url.appendingPathComponent("tablespace")
        try FileManager.default.createDirectory(at: location, withIntermediateDirectories: true)
        // The scratch server runs as `postgres` when the tests run as root: its tablespace must be its own.
        let chown = Process()
        chown.executableURL = URL(fileURLWithPath: "/bin/chown")
        chown.arguments = ["postgres", location.path]
        try chown.run()
        chown.waitUntilExit()
        let store = try ScratchPostgres.store(try ScratchPostgres.isolatedURL(), server: "test-full")
        let tablespace = "rada_small_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        _ = try store.database.query(PostgresQuery(unsafeSQL: "CREATE TABLESPACE \(tablespace) LOCATION '\(location.path)'"))
        let server = TestServer { $0.store = store }
        try await server.run { client in
            var twin = try await TestData.twin()
            #expect(try await client.createStream("s").status == .created)
            #expect(try await client.classify("s", TestData.batch(0)) == (try await TestData.expected(&twin, TestData.batch(0))))
            // The journal's rows move to the small disk, which is then filled.
            _ = try store.database.query(PostgresQuery(unsafeSQL: "ALTER TABLE rada_journal SET TABLESPACE \(tablespace)"))
            try disk.fill(leaving: 0)
            let (reply, r) = try await Self.classifyUntilRefused(client, "s", twin: &twin, from: 1)
            #expect(reply.status.code == 507 && reply.errorCode == "storage_full", "\(reply.status) \(String(buffer: reply.body))")
            #expect(try await Self.requests(client, "s") == r, "the refused request was not applied")
            try disk.empty()
            #expect(try await client.classify("s", TestData.batch(r)) == (try await TestData.expected(&twin, TestData.batch(r))))
            // Before the server closes the store: the small disk must be let go of to unmount.
            _ = try store.database.query("ALTER TABLE rada_journal SET TABLESPACE pg_default")
            _ = try store.database.query(PostgresQuery(unsafeSQL: "DROP TABLESPACE \(tablespace)"))
        }
    }
}
