import Adaptation
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresStreamStore
import StreamStore
import Synchronization
import Testing
@testable import Server

/// The scratch PostgreSQL that `make test` starts (tools/pg-scratch.sh) and names in
/// RADA_TEST_POSTGRES_URL; without it these tests are skipped, saying so.
enum ScratchPostgres {
    static let url = ProcessInfo.processInfo.environment["RADA_TEST_POSTGRES_URL"]
    static let skipReason: Comment = "needs PostgreSQL: `make test` starts a scratch server and sets RADA_TEST_POSTGRES_URL (without it the API suites run on the local store only)"

    /// The test database's URL with a schema of its own: tables no other test sees.
    static func isolatedURL() throws -> String {
        let base = try #require(url)
        return base + (base.contains("?") ? "&" : "?") + "schema=t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    static let logger: Logger = {
        var logger = Logger(label: "rada.test.pg")
        logger.logLevel = .error
        return logger
    }()

    static func store(_ url: String, server: String, leaseSeconds: Double = 10) throws -> PostgresStreamStore {
        try PostgresStreamStore(url: url, serverID: server, leaseSeconds: leaseSeconds, logger: logger)
    }
}

extension TestServer {
    /// A server whose streams live in the PostgreSQL store at `url` (a new store: a new server id).
    static func postgres(_ url: String, _ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        let store = try ScratchPostgres.store(url, server: "test-\(UUID().uuidString.prefix(8))")
        return TestServer { configuration in
            configuration.store = store
            adjust(&configuration)
        }
    }
}

@Suite("PostgreSQL stream store: the local store's behaviour, leases and fencing", .enabled(if: ScratchPostgres.url != nil, ScratchPostgres.skipReason))
struct PostgresStoreTests {
    static func payload(_ sequence: UInt64) -> [UInt8] {
        JournalRecord(sequence: sequence, adapt: true, features: .init(rows: 1, cols: 2, storage: [Float(sequence), 2])).payload()
    }

    static func sequences(_ opened: OpenedStream) -> [UInt64] {
        opened.journal.compactMap { JournalRecord(payload: $0[...])?.sequence }
    }

    @Test("the store contract holds on both stores: create, open, journal, snapshot, checkpoints, delete")
    func contract() throws {
        let local = LocalStreamStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("rada-contract-\(UUID().uuidString)"))
        let postgres = try ScratchPostgres.store(try ScratchPostgres.isolatedURL(), server: "contract")
        defer { postgres.close() }
        for store in [local as any StreamStore, postgres] {
            let key = StreamKey(client: "alice", id: "s")
            let accept = { (payload: [UInt8]) in JournalRecord(payload: payload[...]) != nil }
            #expect(try !store.exists(key))
            #expect(throws: StreamStoreError.notFound) { try store.open(key, accept: accept) }
            let handle = try store.create(key, metadata: Data("{\"m\":1}".utf8), snapshot: Data([1, 2, 3]))
            #expect(throws: StreamStoreError.exists) { try store.create(key, metadata: Data(), snapshot: Data()) }
            for sequence in 0..<3 { try handle.append(sequence: UInt64(sequence), payload: Self.payload(UInt64(sequence))) }
            handle.release()
            var opened = try store.open(key, accept: accept)
            #expect(opened.metadata == Data("{\"m\":1}".utf8), "\(store.name)")
            #expect(opened.snapshots.map(\.sequence) == [0])
            #expect(try opened.snapshots[0].read() == Data([1, 2, 3]))
            #expect(Self.sequences(opened) == [0, 1, 2])
            try opened.handle.prepareSnapshot(sequence: 3)
            try opened.handle.append(sequence: 3, payload: Self.payload(3))
            try opened.handle.snapshot(sequence: 3, data: Data([9]))
            try opened.handle.saveCheckpoint(named: "c1", data: Data(repeating: 7, count: 100))
            #expect(throws: StreamStoreError.exists) { try opened.handle.saveCheckpoint(named: "c1", data: Data()) }
            #expect(try opened.handle.checkpoints().map(\.name) == ["c1"])
            #expect(try opened.handle.checkpoints().map(\.bytes) == [100])
            #expect(try opened.handle.checkpoint(named: "c1") == Data(repeating: 7, count: 100))
            #expect(try opened.handle.checkpoint(named: "c2") == nil)
            // Read a part at a time: the parts are the file; a deleted one is read whole or not at all.
            let file = Data((0..<1000).map { UInt8($0 % 251) })
            try opened.handle.saveCheckpoint(named: "big", data: file)
            #expect(try opened.handle.checkpointReader(named: "c2") == nil)
            let reader = try #require(try opened.handle.checkpointReader(named: "big"))
            #expect(reader.size == 1000)
            #expect(try reader.read(offset: 0, count: 300) + reader.read(offset: 300, count: 300) + reader.read(offset: 600, count: 999) == file,
                    "\(store.name): parts, the last one short")
            #expect(try reader.read(offset: 1000, count: 10).isEmpty)
            #expect(try opened.handle.deleteCheckpoint(named: "big"))
            try opened.handle.saveCheckpoint(named: "big", data: Data(repeating: 1, count: 1000))
            do {
                #expect(try reader.read(offset: 500, count: 500) == file[500...], "\(store.name): the file as opened")
            } catch {
                #expect(error as? StreamStoreError == .notFound, "\(store.name): \(error)")
            }
            #expect(try opened.handle.deleteCheckpoint(named: "big"))
            opened.handle.release()
            opened = try store.open(key, accept: accept)
            #expect(opened.snapshots.map(\.sequence) == [3], "\(store.name): older snapshots go")
            #expect(try opened.snapshots[0].read() == Data([9]))
            #expect(Self.sequences(opened) == [3], "\(store.name): records the snapshot holds go")
            #expect(try store.streams(client: "alice", after: nil, limit: 10).map(\.id) == ["s"])
            #expect(try store.streams(client: "bob", after: nil, limit: 10).isEmpty)
            #expect(try store.streamCount(client: "alice") == 1 && store.streamCount(client: "bob") == 0, "\(store.name): the quota's count")
            // Listing pages in byte order of the ids, the same on both stores.
            let more = ["b.2", "A-1", "z", "b", "S_9"]
            for id in more { try store.create(StreamKey(client: "alice", id: id), metadata: Data("{}".utf8), snapshot: Data([0])).release() }
            var paged: [String] = []
            var after: String?
            while true {
                let page = try store.streams(client: "alice", after: after, limit: 2).map(\.id)
                paged += page
                guard page.count == 2 else { break }
                after = page.last
            }
            #expect(paged == (more + ["s"]).sorted(), "\(store.name): \(paged)")
            for id in more { #expect(try store.removeUnopened(StreamKey(client: "alice", id: id))) }
            #expect(try opened.handle.deleteCheckpoint(named: "c1"))
            #expect(try !opened.handle.deleteCheckpoint(named: "c1"))
            try opened.handle.delete()
            #expect(try !store.exists(key))
        }
    }

    @Test("limited creations count each other: on one local store, and from three servers of one database")
    func limitedCreationsAreExact() throws {
        let url = try ScratchPostgres.isolatedURL()
        let servers = try (0..<3).map { try ScratchPostgres.store(url, server: "q\($0)") }
        defer { for server in servers { server.close() } }
        let local = LocalStreamStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("rada-quota-\(UUID().uuidString)"))
        for (name, stores) in [("local", [local as any StreamStore, local, local]), ("postgres", servers as [any StreamStore])] {
            try stores[0].create(StreamKey(client: "alice", id: "first"), metadata: Data("{}".utf8), snapshot: Data([0]), streamLimit: 5).release()
            try stores[0].create(StreamKey(client: "bob", id: "b"), metadata: Data("{}".utf8), snapshot: Data([0])).release()
            // 30 creations at once, 10 through each store, with 4 places left: a thread each (the
            // store blocks its caller), all released together.
            let collected = Mutex<[String]>([])
            let start = DispatchSemaphore(value: 0), done = DispatchGroup()
            for i in 0..<30 {
                let store = stores[i % 3]
                done.enter()
                Thread {
                    start.wait()
                    let outcome: String
                    do {
                        try store.create(StreamKey(client: "alice", id: "c\(i)"), metadata: Data("{}".utf8), snapshot: Data([0]), streamLimit: 5).release()
                        outcome = "created"
                    } catch StreamStoreError.quotaExceeded(let stored, 5) where stored >= 5 {
                        outcome = "refused"
                    } catch { outcome = "\(error)" }
                    collected.withLock { $0.append(outcome) }
                    done.leave()
                }.start()
            }
            for _ in 0..<30 { start.signal() }
            done.wait()
            let outcomes = collected.withLock { $0 }
            #expect(outcomes.filter { $0 == "created" }.count == 4, "\(name): \(outcomes)")
            #expect(outcomes.allSatisfy { $0 == "created" || $0 == "refused" }, "\(name): \(outcomes)")
            #expect(try stores[1].streamCount(client: "alice") == 5, "\(name)")
            #expect(throws: StreamStoreError.quotaExceeded(stored: 5, limit: 5)) {
                try stores[2].create(StreamKey(client: "alice", id: "late"), metadata: Data("{}".utf8), snapshot: Data([0]), streamLimit: 5)
            }
            // The limit is per client, and a refusal left the pool's connections usable.
            try stores[2].create(StreamKey(client: "bob", id: "b2"), metadata: Data("{}".utf8), snapshot: Data([0]), streamLimit: 5).release()
            #expect(try stores[2].streamCount(client: "bob") == 2, "\(name)")
        }
    }

    @Test("fencing: a takeover raises the epoch; the old owner's journal, snapshot and checkpoint writes are refused")
    func fencing() throws {
        let url = try ScratchPostgres.isolatedURL()
        let a = try ScratchPostgres.store(url, server: "a", leaseSeconds: 1)
        let b = try ScratchPostgres.store(url, server: "b", leaseSeconds: 1)
        defer { a.close(); b.close() }
        let key = StreamKey(client: "alice", id: "s")
        let accept = { (payload: [UInt8]) in JournalRecord(payload: payload[...]) != nil }
        let created = try a.create(key, metadata: Data("{}".utf8), snapshot: Data([0]))
        let ownedByA = try a.open(key, accept: accept).handle
        try ownedByA.append(sequence: 0, payload: Self.payload(0))
        // A's lease is fresh: B may not take the stream.
        #expect(throws: StreamStoreError.ownedElsewhere(owner: "a")) { try b.open(key, accept: accept) }
        Thread.sleep(forTimeInterval: 1.3)
        let takenByB = try b.open(key, accept: accept)
        #expect(Self.sequences(takenByB) == [0], "B sees every write A committed")
        #expect(throws: StreamStoreError.fenced) { try ownedByA.append(sequence: 1, payload: Self.payload(1)) }
        #expect(throws: StreamStoreError.fenced) { try ownedByA.snapshot(sequence: 1, data: Data([1])) }
        #expect(throws: StreamStoreError.fenced) { try ownedByA.saveCheckpoint(named: "late", data: Data([1])) }
        #expect(throws: StreamStoreError.fenced) { try ownedByA.delete() }
        #expect(throws: StreamStoreError.fenced) { try ownedByA.verifyOwnership() }
        try takenByB.handle.verifyOwnership()
        try takenByB.handle.append(sequence: 1, payload: Self.payload(1))
        // B writes, so its lease stays fresh: A cannot take the stream back.
        #expect(throws: StreamStoreError.ownedElsewhere(owner: "b")) { try a.open(key, accept: accept) }
        takenByB.handle.release()
        let back = try a.open(key, accept: accept)
        #expect(Self.sequences(back) == [0, 1], "after B released it, A takes it at once and sees B's record; none of A's refused writes")
        #expect(try back.handle.checkpoints().isEmpty)
        #expect(throws: StreamStoreError.fenced) { try takenByB.handle.append(sequence: 2, payload: Self.payload(2)) }
        // Epochs are never given twice: the creator's handle (the first epoch) stays fenced off
        // a new stream of the same id.
        try back.handle.delete()
        _ = try b.create(key, metadata: Data("{}".utf8), snapshot: Data([0]))
        #expect(throws: StreamStoreError.fenced) { try created.append(sequence: 0, payload: Self.payload(0)) }
    }

    @Test("checkpoints: create, list, download, restore, upload to another server, delete (PostgreSQL)")
    func checkpoints() async throws {
        try await DurabilityTests.checkpoints(first: try .postgres(try ScratchPostgres.isolatedURL()),
                                              second: try .postgres(try ScratchPostgres.isolatedURL()))
    }

    @Test("graceful restart on another server of the same database: streams, counters and checkpoints persist")
    func gracefulRestart() async throws {
        let url = try ScratchPostgres.isolatedURL()
        try await DurabilityTests.gracefulRestart(first: try .postgres(url), second: try .postgres(url))
    }

    @Test("eviction beyond the memory budget releases the lease; streams come back unchanged (PostgreSQL)")
    func eviction() async throws {
        let url = try ScratchPostgres.isolatedURL()
        try await DurabilityTests.eviction { try TestServer.postgres(url, $0) }
    }
}

/// Two `rada serve` processes on one PostgreSQL database: the kill -9 twin guarantee across
/// servers, and a paused owner's late write refused.
@Suite("Two server processes on one PostgreSQL", .serialized, .enabled(if: ScratchPostgres.url != nil && radaExecutable != nil, ScratchPostgres.skipReason))
struct PostgresFailoverTests {
    static let lease = 1.0

    static func launch(_ url: String, server: String, port: Int, lease: Double = lease, extra: [String] = []) throws -> Process {
        let executable = try #require(radaExecutable)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rada-pg-\(UUID().uuidString)")
        return try KillTests.launch(executable, port: port, data: data, snapshotEvery: 4,
                                    extra: ["--store", url, "--server-id", server, "--lease-seconds", "\(lease)"] + extra)
    }

    static func classify(_ port: Int, _ id: String, _ r: Int) async throws -> (HTTPResponse.Status, Data) {
        try await KillTests.send(port, .post, "/v1/streams/\(id)/classify", json: Client.imagesJSON(TestData.batch(r)))
    }

    static func errorCode(_ body: Data) -> String? {
        ((try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
    }

    /// Servers A and B on one fresh schema, a stream created through A, and its twin.
    final class Pair {
        let a: Process
        let b: Process
        let portA: Int
        let portB: Int
        let id: String
        let backend = PixelStatisticsBackend(dimension: 16, logitScale: 100)
        var twin: StreamState
        /// Requests answered 200, each checked against the twin.
        var acknowledged = 0

        init(stream id: String, lease: Double = PostgresFailoverTests.lease) async throws {
            let url = try ScratchPostgres.isolatedURL()
            (portA, portB) = (try KillTests.freePort(), try KillTests.freePort())
            a = try PostgresFailoverTests.launch(url, server: "a", port: portA, lease: lease)
            b = try PostgresFailoverTests.launch(url, server: "b", port: portB, lease: lease)
            self.id = id
            twin = try await TestData.twin(backend: backend)
            try await KillTests.waitReady(portA)
            try await KillTests.waitReady(portB)
            let labels = TestData.labels.map { "\"\($0)\"" }.joined(separator: ",")
            #expect(try await KillTests.send(portA, .post, "/v1/streams", json: "{\"id\":\"\(id)\",\"labels\":[\(labels)]}").0 == .created)
        }

        func stop() {
            kill(a.processIdentifier, SIGCONT)
            for process in [a, b] where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }

        /// Request `r` on the server at `port`: the status, and the error code of a refusal. A
        /// 200 must be the twin's next answer.
        func classify(_ port: Int, _ r: Int, _ label: String) async throws -> (HTTPResponse.Status, String?) {
            let (status, body) = try await PostgresFailoverTests.classify(port, id, r)
            guard status == .ok else { return (status, PostgresFailoverTests.errorCode(body)) }
            acknowledged += 1
            #expect(try JSONDecoder().decode(ClassifyReply.self, from: body) == (try await TestData.expected(&twin, TestData.batch(r), backend: backend)), "\(label), request \(r)")
            return (status, nil)
        }

        /// The step count the store holds for the stream, read through B.
        func steps() async throws -> Int? {
            let (status, info) = try await KillTests.send(portB, .get, "/v1/streams/\(id)")
            #expect(status == .ok)
            return (try JSONSerialization.jsonObject(with: info) as? [String: Any])?["requests"] as? Int
        }
    }

    @Test("kill -9 of the owner: another server takes the stream after the lease and continues as the twin")
    func killNineTakeover() async throws {
        let pair = try await Pair(stream: "k")
        defer { pair.stop() }
        for r in 0..<6 { #expect(try await pair.classify(pair.portA, r, "on A").0 == .ok) }
        kill(pair.a.processIdentifier, SIGKILL)
        pair.a.waitUntilExit()
        // Until A's lease lapses B refuses with a retryable 503; then it takes the stream over.
        let start = ContinuousClock.now
        var refused = 0
        var r = 6
        while r < 10 {
            let (status, code) = try await pair.classify(pair.portB, r, "on B")
            if status == .ok {
                r += 1
                continue
            }
            #expect(status == .serviceUnavailable && code == APIError.streamMovedCode)
            refused += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(ContinuousClock.now - start < .seconds(Self.lease + 5), "takeover within the lease time and a few seconds")
        #expect(refused <= Int(Self.lease * 10) + 5)
        #expect(try await pair.steps() == 10 && pair.acknowledged == 10)
    }

    @Test("SIGSTOP past the lease: another server takes over; the paused owner's late write is refused (503) and nothing it held is lost")
    func pausedOwnerFenced() async throws {
        // A lease lapses this long after its owner's last write. B writes just before A is asked
        // (below), so B's lease is fresh however loaded the machine: under CI's load the gap from
        // B's earlier writes once passed 1 s and then 3 s, and A rightly took the stream back.
        let lease = 3.0
        let pair = try await Pair(stream: "p", lease: lease)
        defer { pair.stop() }
        for r in 0..<3 { #expect(try await pair.classify(pair.portA, r, "on A").0 == .ok) }
        // A second stream A holds, which B takes over and A is then only asked to read.
        #expect(try await KillTests.send(pair.portA, .post, "/v1/streams", json: "{\"id\":\"q\",\"labels\":[\"a\",\"b\"]}").0 == .created)
        #expect(try await Self.classify(pair.portA, "q", 0).0 == .ok)
        kill(pair.a.processIdentifier, SIGSTOP)
        // A request reaches the paused owner: it waits in A's socket while B takes over.
        let portA = pair.portA
        let late = Task { try await Self.classify(portA, "p", 99) }
        try await Task.sleep(for: .seconds(lease + 0.5))
        for r in 3..<6 { #expect(try await pair.classify(pair.portB, r, "on B after the takeover").0 == .ok) }
        #expect(try await Self.classify(pair.portB, "q", 1).0 == .ok)
        kill(pair.a.processIdentifier, SIGCONT)
        let (lateStatus, lateBody) = try await late.value
        #expect(lateStatus == .serviceUnavailable, "the paused owner's write is fenced: \(String(decoding: lateBody, as: UTF8.self))")
        #expect(Self.errorCode(lateBody) == APIError.streamMovedCode)
        // A dropped its stale copy; B is writing, so A may not take the stream back either.
        #expect(try await pair.classify(pair.portB, 6, "on B just before A is asked").0 == .ok)
        let again = try await pair.classify(pair.portA, 98, "on A after it woke")
        #expect(again.0 == .serviceUnavailable && again.1 == APIError.streamMovedCode)
        #expect(try await pair.classify(pair.portB, 7, "on B after A woke").0 == .ok)
        #expect(try await pair.steps() == 8 && pair.acknowledged == 8, "every acknowledged step once, none of the refused ones")
        // A's copy of q is stale (1 step): it must not answer a read from it.
        let (staleStatus, staleBody) = try await KillTests.send(pair.portA, .get, "/v1/streams/q")
        #expect(staleStatus == .serviceUnavailable && Self.errorCode(staleBody) == APIError.streamMovedCode)
        let (status, info) = try await KillTests.send(pair.portB, .get, "/v1/streams/q")
        #expect(try status == .ok && (JSONSerialization.jsonObject(with: info) as? [String: Any])?["requests"] as? Int == 2)
    }
}

/// HAProxy (configured by `rada cluster-config`) in front of two servers on one PostgreSQL.
let haproxyExecutable: URL? = ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"]
    .map(URL.init(fileURLWithPath:)).first { FileManager.default.isExecutableFile(atPath: $0.path) }

@Suite("HAProxy routing to two servers", .serialized,
       .enabled(if: ScratchPostgres.url != nil && radaExecutable != nil, ScratchPostgres.skipReason),
       .enabled(if: haproxyExecutable != nil, "needs HAProxy: `make test` installs it (apt: haproxy)"))
struct ProxyTests {
    static func launchProxy(port: Int, servers: [Int], maxClientConnections: Int = HAProxyConfig.defaultMaxClientConnections) throws -> Process {
        let config = HAProxyConfig.render(listen: try #require(.init("127.0.0.1:\(port)")),
                                          servers: try servers.map { try #require(HAProxyConfig.Server("127.0.0.1:\($0)")) },
                                          checkIntervalMs: 200, maxClientConnections: maxClientConnections)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rada-haproxy-\(UUID().uuidString).cfg")
        try config.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = try #require(haproxyExecutable)
        process.arguments = ["-db", "-f", file.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// 200s a server answered on the classify route, from its own metrics.
    static func classified(_ port: Int) async throws -> Int {
        let (_, body) = try await KillTests.send(port, .get, "/metrics")
        return String(decoding: body, as: UTF8.self).split(separator: "\n")
            .filter { $0.hasPrefix("rada_http_requests_total{") && $0.contains("classify") && $0.contains("status=\"200\"") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0) { $0 + Int($1) }
    }

    @Test("streams hash to one server each (no takeover while both live); kill -9 of one: its streams move to the other after the lease, continuing as their twins")
    func routingAndFailover() async throws {
        let url = try ScratchPostgres.isolatedURL()
        let ports = (try KillTests.freePort(), try KillTests.freePort(), try KillTests.freePort())
        let a = try PostgresFailoverTests.launch(url, server: "a", port: ports.0)
        let b = try PostgresFailoverTests.launch(url, server: "b", port: ports.1)
        defer { for process in [a, b] where process.isRunning { process.terminate(); process.waitUntilExit() } }
        try await KillTests.waitReady(ports.0)
        try await KillTests.waitReady(ports.1)
        // Started after the servers are ready, so its first health checks find both up (a server
        // that comes up later joins the ring then, and the streams hashed to it move).
        let proxy = try Self.launchProxy(port: ports.2, servers: [ports.0, ports.1])
        defer { proxy.terminate(); proxy.waitUntilExit() }
        try await KillTests.waitReady(ports.2)

        let count = 8
        var streams = try await Self.createStreams(count, proxy: ports.2)
        let log = ClusterFailover.Log(streams: count)
        for _ in 0..<3 {
            for s in 0..<count { try await streams[s].step(log) }
        }
        #expect(log.failures.isEmpty, "both servers up: each stream stays on its server")
        // A request is counted just after its answer is sent: wait for the last ones.
        var (onA, onB) = (0, 0)
        for _ in 0..<100 where onA + onB < 3 * count {
            (onA, onB) = (try await Self.classified(ports.0), try await Self.classified(ports.1))
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(onA + onB == 3 * count && onA > 0 && onB > 0, "the ring spreads the streams: \(onA) on A, \(onB) on B")

        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        let start = ContinuousClock.now
        for _ in 3..<6 {
            for s in 0..<count { try await streams[s].step(log) }
        }
        let refused = log.failures.count
        let window = ContinuousClock.now - start
        #expect(window < .seconds(PostgresFailoverTests.lease + 10), "every stream served again within the lease and a few seconds")
        try await Self.expectSteps(streams, each: 6, proxy: ports.2)
        print("proxy failover: \(refused) retryable refusals, all \(count) streams served again after \(window)")
    }
}

extension ProxyTests {
    /// Streams s0… created through the proxy (stream s by the client whose key is `key(s)`), with
    /// their twins.
    static func createStreams(_ count: Int, proxy: Int, key: (Int) -> String? = { _ in nil }) async throws -> [ClusterFailover.ClientStream] {
        let labels = TestData.labels.map { "\"\($0)\"" }.joined(separator: ",")
        var streams: [ClusterFailover.ClientStream] = []
        for s in 0..<count {
            let (status, body) = try await KillTests.send(proxy, .post, "/v1/streams", json: "{\"id\":\"s\(s)\",\"labels\":[\(labels)]}", key: key(s))
            try #require(status == .created, "\(String(decoding: body, as: UTF8.self))")
            streams.append(.init(index: s, key: key(s), proxy: proxy, twin: try await TestData.twin(backend: ClusterFailover.backend)))
        }
        return streams
    }

    /// The store holds each stream's acknowledged steps, exactly: none lost, none refused applied.
    static func expectSteps(_ streams: [ClusterFailover.ClientStream], each requests: Int, proxy: Int) async throws {
        for stream in streams {
            let (status, info) = try await KillTests.send(proxy, .get, "/v1/streams/\(stream.id)")
            #expect(status == .ok)
            let steps = (try JSONSerialization.jsonObject(with: info) as? [String: Any])?["requests"] as? Int
            #expect(steps == stream.acknowledged && stream.acknowledged == requests, "stream \(stream.id): \(steps ?? -1) steps stored, \(stream.acknowledged) acknowledged")
        }
    }
}

@Suite("Store and cluster options")
struct StoreOptionTests {
    @Test("--store refuses what it cannot honour, naming why; an unreachable database is store_unavailable")
    func storeURLs() throws {
        func refusal(_ url: String) -> String? {
            do {
                _ = try StoreOption.open(url, dataDirectory: URL(fileURLWithPath: "/nonexistent"), diskReserveBytes: 0, serverID: nil, leaseSeconds: nil, logger: ScratchPostgres.logger)
                return nil
            } catch let error as StreamStoreError {
                guard case .unavailable(let why) = error else { return "\(error)" }
                return why
            } catch { return "\(error)" }
        }
        #expect(refusal("/var/lib/rada")?.contains("postgres:// URL") == true)
        #expect(refusal("postgres://127.0.0.1/rada")?.contains("no user") == true)
        #expect(refusal("postgres://rada@127.0.0.1/rada?sslmode=require")?.contains("sslmode require is not supported") == true)
        #expect(refusal("postgres://rada@127.0.0.1/rada?schema=x;drop")?.contains("schema must be") == true)
        #expect(refusal("postgres://rada@127.0.0.1/rada?schema=1abc")?.contains("schema must be") == true)
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        #expect(refusal("postgres://rada@127.0.0.1:1/rada")?.contains("cannot connect to PostgreSQL") == true)
        #expect(throws: StreamStoreError.self) {
            try PostgresStreamStore(url: "postgres://rada@127.0.0.1:1/rada", leaseSeconds: 0.01, logger: ScratchPostgres.logger)
        }
        #expect(APIError.from(StreamStoreError.unavailable("x")).status == .serviceUnavailable)
        #expect(APIError.from(StreamStoreError.fenced).code == APIError.streamMovedCode)
        #expect(APIError.from(StreamStoreError.fenced).retryAfterSeconds == 1)
    }

    @Test("cluster-config: host:port servers, a valid HAProxy file hashing client + stream id")
    func haproxyConfig() throws {
        #expect(HAProxyConfig.Server("127.0.0.1:8081")?.port == 8081)
        #expect(HAProxyConfig.Server("[::1]:8081")?.host == "[::1]")
        for bad in ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":80", "a b:80", "x;y:80"] { #expect(HAProxyConfig.Server(bad) == nil, "\(bad)") }
        let config = HAProxyConfig.render(listen: try #require(.init("127.0.0.1:8080")),
                                          servers: [try #require(.init("127.0.0.1:8081")), try #require(.init("127.0.0.1:8082"))])
        #expect(config.contains("hash-type consistent") && config.contains("balance hash var(txn.route)"))
        #expect(config.contains("server rada1 127.0.0.1:8081") && config.contains("server rada2 127.0.0.1:8082"))
        #expect(config.contains("tcp-request connection reject if { sc_conn_cur(0) gt \(HAProxyConfig.defaultMaxClientConnections) }"))
        let unlimited = HAProxyConfig.render(listen: try #require(.init("127.0.0.1:8080")), servers: [try #require(.init("127.0.0.1:8081"))],
                                             maxClientConnections: 0)
        #expect(!unlimited.contains("stick-table") && !unlimited.contains("sc_conn_cur"))
        if let haproxy = haproxyExecutable {
            for text in [config, unlimited] {
                let file = FileManager.default.temporaryDirectory.appendingPathComponent("rada-haproxy-check-\(UUID().uuidString).cfg")
                try text.write(to: file, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(at: file) }
                let check = Process()
                check.executableURL = haproxy
                check.arguments = ["-c", "-q", "-f", file.path]
                try check.run()
                check.waitUntilExit()
                #expect(check.terminationStatus == 0, "haproxy -c accepts the generated file")
            }
        }
    }
}
