import Adaptation
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import PostgresStreamStore
import Synchronization
import Testing
@testable import Server

/// The cluster's failover test (`make cluster-test`; also part of `make test`): three
/// `rada serve --store postgres://…` replicas behind the HAProxy of `rada cluster-config`, 20
/// clients (API keys) driving 50 streams concurrently, `kill -9` of one replica mid-load, later
/// `SIGSTOP` of another past its lease and `SIGCONT`. What it proves:
/// - every step a client saw acknowledged is in the store exactly once: after the run every
///   replica is killed (no shutdown snapshot), a fresh server rebuilds each stream from the
///   database alone, and its state's bytes equal an uninterrupted twin fed exactly the
///   acknowledged requests (a lost or doubled step would change the counters and the weights);
/// - every answer equals the twin's answer at that point, including the answer to a request
///   retried with its `Idempotency-Key` after the replica that had it died (even streams);
/// - the paused replica's late writes were refused (its `rada_store_fenced_writes_total`), and a
///   write it had queued before the pause is not in the store;
/// - clients saw only retryable errors (503 `stream_moved`/`store_unavailable`, the proxy's 502 for
///   requests in flight on the killed replica), only within a bounded time of each fault.
/// Its figures (takeover time, error window) are printed for Docs/scaling.md.
enum ClusterFailover {
    static let replicas = 3
    static let clients = 20
    static let streams = 50
    /// The pause: three lease times, so the paused replica's leases have lapsed and been taken.
    static let pause = PostgresFailoverTests.lease * 3
    /// Longest a stream may go unserved after a fault before the test fails.
    static let bound = Duration.seconds(PostgresFailoverTests.lease * 3 + 12)
    static let backend = PixelStatisticsBackend(dimension: 16, logitScale: 100)

    static func key(_ client: Int) -> String { "failover-key-\(client)-0123456789" }

    static func errorCode(_ body: Data) -> String? { PostgresFailoverTests.errorCode(body) }

    /// What every client reports to the test: acknowledgements (for pacing the faults) and every
    /// error with its time.
    final class Log: Sendable {
        struct Failure: Sendable {
            var at: ContinuousClock.Instant
            var what: String
        }
        private let state: Mutex<(acks: [Int], failures: [Failure], stop: Bool)>

        init(streams: Int) { state = Mutex((Array(repeating: 0, count: streams), [], false)) }

        func ack(_ stream: Int) { state.withLock { $0.acks[stream] += 1 } }

        func failure(_ what: String) { state.withLock { $0.failures.append(Failure(at: .now, what: what)) } }
        var acks: [Int] { state.withLock { $0.acks } }
        var failures: [Failure] { state.withLock { $0.failures } }
        var stopped: Bool { state.withLock { $0.stop } }
        func stop() { state.withLock { $0.stop = true } }

        /// Waits until every stream has at least `counts[s] + more` acknowledged steps. This paces
        /// the faults; it bounds no latency (each stream's time unserved after a fault is checked
        /// by its client against `bound`). Under the full suite's load the 20 clients made one
        /// step per stream every 10-20 s, and twice the bound (30 s) was once too short.
        func waitForAll(beyond counts: [Int], more: Int, _ what: String) async throws {
            let start = ContinuousClock.now
            let limit = ClusterFailover.bound * 8
            while zip(acks, counts).contains(where: { $0 < $1 + more }) {
                guard ContinuousClock.now - start < limit else {
                    Issue.record("not every stream made \(more) more steps within \(limit) \(what): \(acks)")
                    throw CancellationError()
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// One stream's client side: its twin, its acknowledged steps, the first answer after each
    /// fault.
    struct ClientStream: Sendable {
        let index: Int
        let key: String?
        let proxy: Int
        var twin: StreamState
        var acknowledged = 0
        /// Requests whose answer was lost (the replica died with them in flight) but which the
        /// store holds (the stream's step count, read after the takeover, says so).
        var appliedUnanswered = 0
        /// Requests whose answer was lost and which were sent again with their idempotency key.
        var retriedWithKey = 0

        /// Even streams send an `Idempotency-Key` and simply retry a request whose answer was
        /// lost; odd ones send none and read the stored step count first.
        var keyed: Bool { index % 2 == 0 }
        /// From a request's first error to its acknowledgement, per interrupted request.
        var interruptions: [Duration] = []
        var acknowledgedAt: [ContinuousClock.Instant] = []

        var id: String { "s\(index)" }

        /// The next request (request `acknowledged` of the stream), until it is acknowledged.
        mutating func step(_ log: Log) async throws {
            let batch = TestData.batch(acknowledged, stream: index)
            let body = Client.imagesJSON(batch)
            var firstError: ContinuousClock.Instant?
            while true {
                let (status, reply) = try await KillTests.send(
                    proxy, .post, "/v1/streams/\(id)/classify", json: body, key: key, idempotencyKey: keyed ? "\(id)-request-\(acknowledged)" : nil)
                if status == .ok {
                    let expected = try await TestData.expected(&twin, batch, backend: ClusterFailover.backend)
                    #expect(try JSONDecoder().decode(ClassifyReply.self, from: reply) == expected, "\(id) request \(acknowledged)")
                    if let firstError { interruptions.append(ContinuousClock.now - firstError) }
                    acknowledge(log)
                    return
                }
                let code = ClusterFailover.errorCode(reply)
                log.failure("\(status.code) \(code ?? "-")")
                firstError = firstError ?? .now
                switch (status, code) {
                case (.serviceUnavailable, APIError.streamMovedCode?), (.serviceUnavailable, "store_unavailable"?):
                    break // Another server owns the stream, or is about to: nothing was written.
                case (.serviceUnavailable, nil):
                    break // The proxy reached no server: nothing was delivered.
                case (.badGateway, _) where keyed:
                    // The replica died with the request in flight, perhaps after committing it:
                    // the same key makes the retry safe (its new owner answers it again).
                    retriedWithKey += 1
                case (.badGateway, _):
                    // The replica died with the request in flight: it may have committed the
                    // step before dying. Its successor's answer to a read (after the takeover,
                    // so every write of the dead replica has committed or never will) says.
                    let steps = try await storedSteps(log)
                    if steps == acknowledged + 1 {
                        _ = try await TestData.expected(&twin, batch, backend: ClusterFailover.backend)
                        appliedUnanswered += 1
                        acknowledge(log)
                        return
                    }
                    #expect(steps == acknowledged, "\(id): \(steps) steps stored, \(acknowledged) acknowledged")
                default:
                    Issue.record("\(id) request \(acknowledged): \(status) \(String(decoding: reply, as: UTF8.self))")
                    throw CancellationError()
                }
                guard ContinuousClock.now - firstError! < ClusterFailover.bound else {
                    Issue.record("\(id) not served for \(ClusterFailover.bound)")
                    throw CancellationError()
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        private mutating func acknowledge(_ log: Log) {
            acknowledged += 1
            acknowledgedAt.append(.now)
            log.ack(index)
        }

        /// The step count the store holds, read through the proxy (retried while the stream moves).
        func storedSteps(_ log: Log) async throws -> Int {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < ClusterFailover.bound {
                let (status, info) = try await KillTests.send(proxy, .get, "/v1/streams/\(id)", key: key)
                if status == .ok, let steps = (try JSONSerialization.jsonObject(with: info) as? [String: Any])?["requests"] as? Int {
                    return steps
                }
                log.failure("\(status.code) \(ClusterFailover.errorCode(info) ?? "-") (read)")
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("\(id): its step count could not be read for \(ClusterFailover.bound)")
            throw CancellationError()
        }
    }

    /// Stream ids each replica holds the lease of, read from the database.
    static func owners(_ store: PostgresStreamStore) throws -> [String: Set<String>] {
        var owners: [String: Set<String>] = [:]
        for row in try store.database.query("SELECT stream, owner FROM rada_streams WHERE owner IS NOT NULL") {
            let (stream, owner) = try row.decode((String, String).self)
            owners[owner, default: []].insert(stream)
        }
        return owners
    }

    /// A counter from a server's Prometheus text.
    static func metric(_ port: Int, _ name: String) async throws -> Double? {
        let (_, body) = try await KillTests.send(port, .get, "/metrics")
        return String(decoding: body, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix(name + " ") }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    static func percentile(_ values: [Duration], _ p: Double) -> Duration {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .zero }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.2f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    static func run() async throws {
        let url = try ScratchPostgres.isolatedURL()
        let database = try ScratchPostgres.store(url, server: "failover-test-reader")
        defer { database.close() }
        let keysFile = FileManager.default.temporaryDirectory.appendingPathComponent("rada-failover-keys-\(UUID().uuidString)")
        try (0..<clients).map { "c\($0) \(key($0))" }.joined(separator: "\n").write(to: keysFile, atomically: true, encoding: .utf8)
        let ports = try (0...replicas).map { _ in try KillTests.freePort() }
        let servers = try (0..<replicas).map {
            try PostgresFailoverTests.launch(url, server: "r\($0)", port: ports[$0], extra: ["--api-keys", keysFile.path])
        }
        defer {
            for server in servers where server.isRunning {
                kill(server.processIdentifier, SIGCONT)
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
        }
        for port in ports.prefix(replicas) { try await KillTests.waitReady(port) }
        let proxy = try ProxyTests.launchProxy(port: ports[replicas], servers: Array(ports.prefix(replicas)))
        defer { proxy.terminate(); proxy.waitUntilExit() }
        try await KillTests.waitReady(ports[replicas])

        let labels = TestData.labels.map { "\"\($0)\"" }.joined(separator: ",")
        let created = try await ProxyTests.createStreams(streams, proxy: ports[replicas]) { key($0 % clients) }

        // The load: each client works through its streams in turn (a stream's requests in
        // order, one at a time), the clients concurrently, until told to stop.
        let log = Log(streams: streams)
        let load = Task {
            try await withThrowingTaskGroup(of: [ClientStream].self) { group in
                for client in 0..<clients {
                    let mine = created.filter { $0.index % clients == client }
                    group.addTask {
                        var mine = mine
                        while !log.stopped {
                            for i in mine.indices { try await mine[i].step(log) }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }.sorted { $0.index < $1.index }
            }
        }
        // A failed step below must not leave the clients running against killed servers.
        defer { log.stop() }

        // Fault 1: kill -9 of a replica while every client has requests in flight.
        try await log.waitForAll(beyond: Array(repeating: 0, count: streams), more: 3, "before the kill")
        let killed = try owners(database)["r0"] ?? []
        let killAt = ContinuousClock.now
        kill(servers[0].processIdentifier, SIGKILL)
        servers[0].waitUntilExit()
        try await log.waitForAll(beyond: log.acks, more: 3, "after the kill")

        // Fault 2: SIGSTOP of another replica past its lease. A probe stream it owns gets one
        // request straight to the paused replica (it waits in its socket) and is then taken
        // over by the third replica; when the paused one continues, its queued write must be
        // refused and never reach the store.
        let probeKey = key(0)
        #expect(try await KillTests.send(ports[replicas], .post, "/v1/streams", json: "{\"id\":\"probe\",\"labels\":[\(labels)]}", key: probeKey).0 == .created)
        var probeTwin = try await TestData.twin(backend: backend)
        func probeStep(_ port: Int, _ r: Int) async throws -> (HTTPResponse.Status, Data) {
            try await KillTests.send(port, .post, "/v1/streams/probe/classify", json: Client.imagesJSON(TestData.batch(r, stream: 999)), key: probeKey)
        }
        #expect(try await probeStep(ports[1], 0).0 == .ok, "the probe's first step, on the replica about to be paused")
        _ = try await TestData.expected(&probeTwin, TestData.batch(0, stream: 999), backend: backend)
        let fencedBefore = try await metric(ports[1], "rada_store_fenced_writes_total") ?? 0
        let paused = (try owners(database)["r1"] ?? []).subtracting(["probe"])
        let stopAt = ContinuousClock.now
        kill(servers[1].processIdentifier, SIGSTOP)
        let replica1 = ports[1]
        let late = Task { try await probeStep(replica1, 7) }
        var probeTaken = false
        while !probeTaken, ContinuousClock.now - stopAt < bound {
            let (status, reply) = try await probeStep(ports[2], 1)
            if status == .ok {
                let expected = try await TestData.expected(&probeTwin, TestData.batch(1, stream: 999), backend: backend)
                #expect(try JSONDecoder().decode(ClassifyReply.self, from: reply) == expected)
                probeTaken = true
            } else {
                #expect(status == .serviceUnavailable && errorCode(reply) == APIError.streamMovedCode, "\(status)")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(probeTaken, "the third replica took the probe over while its owner was paused")
        let remaining = Duration.seconds(pause) - (ContinuousClock.now - stopAt)
        if remaining > .zero { try await Task.sleep(for: remaining) }
        let contAt = ContinuousClock.now
        kill(servers[1].processIdentifier, SIGCONT)
        let (lateStatus, lateBody) = try await late.value
        #expect(lateStatus == .serviceUnavailable && errorCode(lateBody) == APIError.streamMovedCode,
                "the paused replica's queued write is refused: \(lateStatus) \(String(decoding: lateBody, as: UTF8.self))")
        // The ring takes the replica back: the streams taken from it return to it.
        try await log.waitForAll(beyond: log.acks, more: 4, "after SIGCONT")
        log.stop()
        let final = try await load.value
        let fenced = (try await metric(ports[1], "rada_store_fenced_writes_total") ?? 0) - fencedBefore

        // Every replica dies without a shutdown snapshot; a fresh server rebuilds every stream
        // from the database alone.
        for server in servers where server.isRunning {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let verifierPort = try KillTests.freePort()
        let verifier = try PostgresFailoverTests.launch(url, server: "verifier", port: verifierPort, extra: ["--api-keys", keysFile.path])
        defer { verifier.terminate(); verifier.waitUntilExit() }
        try await KillTests.waitReady(verifierPort)
        func stateBytes(_ id: String, _ key: String?) async throws -> Data {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < bound {
                let (status, _) = try await KillTests.send(verifierPort, .post, "/v1/streams/\(id)/checkpoints", json: "{\"name\":\"final\"}", key: key)
                if status == .created {
                    let (downloaded, data) = try await KillTests.send(verifierPort, .get, "/v1/streams/\(id)/checkpoints/final", key: key)
                    #expect(downloaded == .ok)
                    return data
                }
                #expect(status == .serviceUnavailable, "\(id): \(status)")
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("\(id) not loadable by a fresh server")
            return Data()
        }
        var mismatched: [String] = []
        for stream in final {
            if try await stateBytes(stream.id, stream.key) != stream.twin.checkpointData() { mismatched.append(stream.id) }
        }
        #expect(mismatched.isEmpty, "streams whose stored state differs from their twin's: \(mismatched)")
        #expect(try await stateBytes("probe", probeKey) == probeTwin.checkpointData(), "the probe holds its two acknowledged steps, not the paused replica's late one")

        // What clients saw.
        let failures = log.failures
        let faults = [("kill -9", killAt, stopAt), ("SIGSTOP", stopAt, ContinuousClock.now)]
        var windows: [String] = []
        for (name, start, end) in faults {
            let seen = failures.filter { $0.at >= start && $0.at < end }
            if let first = seen.first?.at, let last = seen.last?.at {
                #expect(last - start < bound, "\(name): errors end within \(bound) of the fault")
                windows.append("\(name): \(seen.count) errors from \(seconds(first - start)) to \(seconds(last - start)) after the fault")
            } else {
                windows.append("\(name): no errors")
            }
        }
        let beforeFaults = failures.filter { $0.at < killAt }.count
        let kinds = Dictionary(grouping: failures, by: \.what).mapValues(\.count)
        #expect(Set(kinds.keys).isSubset(of: ["503 stream_moved", "503 store_unavailable", "503 -", "502 -", "503 stream_moved (read)", "503 - (read)", "502 - (read)"]), "\(kinds)")
        #expect(fenced >= 1, "the paused replica counted its refused late writes")

        // Takeover: from the fault to each of the failed replica's streams' first acknowledged step.
        func takeover(_ owned: Set<String>, after fault: ContinuousClock.Instant) -> [Duration] {
            final.filter { owned.contains($0.id) }.compactMap { stream in stream.acknowledgedAt.first { $0 > fault }.map { $0 - fault } }
        }
        let afterKill = takeover(killed, after: killAt)
        let afterStop = takeover(paused, after: stopAt)
        let acknowledged = final.map(\.acknowledged).reduce(0, +)
        let unanswered = final.map(\.appliedUnanswered).reduce(0, +)
        let retried = final.map(\.retriedWithKey).reduce(0, +)
        let interruptions = final.flatMap(\.interruptions)
        #expect(afterKill.count == killed.count && afterStop.count == paused.count)
        print("""
            cluster failover: \(clients) clients, \(streams) streams, \(replicas) replicas, lease \(PostgresFailoverTests.lease) s, pause \(pause) s
              acknowledged \(acknowledged); answers lost to kill -9: \(retried) retried with their Idempotency-Key (even streams), \(unanswered) found applied by the stored step count (odd streams); streams whose stored state differs from their twin (a step lost or doubled): \(mismatched.count) of \(final.count)
              kill -9: \(killed.count) streams served again after p50 \(seconds(percentile(afterKill, 0.5))), p99 \(seconds(percentile(afterKill, 0.99))), max \(seconds(afterKill.max() ?? .zero))
              SIGSTOP: \(paused.count) streams served again after p50 \(seconds(percentile(afterStop, 0.5))), p99 \(seconds(percentile(afterStop, 0.99))), max \(seconds(afterStop.max() ?? .zero)); SIGCONT after \(seconds(contAt - stopAt)); \(Int(fenced)) late writes fenced on the paused replica
              errors seen by clients (\(beforeFaults) before the first fault): \(kinds.sorted { $0.key < $1.key }.map { "\($0.value)× \($0.key)" }.joined(separator: ", "))
              \(windows.joined(separator: "\n  "))
              interrupted requests \(interruptions.count): p50 \(seconds(percentile(interruptions, 0.5))), p99 \(seconds(percentile(interruptions, 0.99))), max \(seconds(interruptions.max() ?? .zero))
            """)
    }
}

extension ProxyTests {
    @Test("three replicas, 20 clients on 50 streams: kill -9 one mid-load, SIGSTOP another past its lease; every acknowledged step stored exactly once (states byte-identical to twins), late writes fenced, only retryable errors for a bounded time")
    func clusterFailover() async throws {
        try await ClusterFailover.run()
    }
}
