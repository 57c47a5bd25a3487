import Adaptation
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import StreamStore
import Synchronization
@testable import Server

/// The `rada` executable next to the test bundle (built by `swift build --build-tests`).
let radaExecutable: URL? = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("rada")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}()

@Suite("kill -9 of a real server process")
struct KillTests {
    /// `rada serve --backend synthetic` as a child process on `port`.
    static func launch(_ executable: URL, port: Int, data: URL, snapshotEvery: Int = 4, dimension: Int = 16, extra: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--backend", "synthetic", "--synthetic-dimension", "\(dimension)", "--port", "\(port)",
                             "--data-dir", data.path, "--snapshot-every", "\(snapshotEvery)"] + extra
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func send(
        _ port: Int, _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, key: String? = nil, idempotencyKey: String? = nil
    ) async throws -> (HTTPResponse.Status, Data) {
        var headers: HTTPFields = [:]
        if json != nil { headers[.contentType] = "application/json" }
        if let key { headers[.authorization] = "Bearer \(key)" }
        if let idempotencyKey { headers[HTTPFields.Element.Name("Idempotency-Key")!] = idempotencyKey }
        let fields = headers
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .suite) { client in
            try await client.execute(TestClient.Request(uri, method: method, authority: "127.0.0.1", headers: fields, body: json.map { ByteBuffer(string: $0) }))
        }
        return (response.status, Data(buffer: response.body ?? ByteBuffer()))
    }

    /// A port for a child server to listen on, from below the kernel's ephemeral range. A port
    /// bound to 0 and released could be handed out again before the child binds it: to an
    /// in-process test server (they bind port 0) or as a client connection's local port, and
    /// the child would then fail to start while its clients reach another test's server.
    /// Below that range the kernel hands nothing out; ports are taken in turn, never twice in a
    /// run, and each is checked free at the time (the scratch PostgreSQL may hold one).
    static func freePort() throws -> Int {
        let low = ephemeralRangeStart
        for _ in 0..<1000 {
            let port = nextPort.withLock { next in
                defer { next = next + 1 < low ? next + 1 : 10_000 }
                return next
            }
            if isFree(port) { return port }
        }
        Issue.record("no free port below \(low)")
        throw CancellationError()
    }

    /// The first port of `/proc/sys/net/ipv4/ip_local_port_range` (Linux's default 32768).
    static let ephemeralRangeStart: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) }.map { max($0, 12_000) } ?? 32_768
    }()

    /// Starts at a random place so that two test runs on one machine rarely share ports.
    static let nextPort = Mutex<Int>(Int.random(in: 10_000..<(ephemeralRangeStart - 1_000)))

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    @Test("ports for child servers lie below the ephemeral range, are free, and are never handed out twice")
    func childPorts() throws {
        let ports = try (0..<50).map { _ in try Self.freePort() }
        #expect(Set(ports).count == ports.count)
        #expect(ports.allSatisfy { $0 >= 10_000 && $0 < Self.ephemeralRangeStart })
        #expect(ports.allSatisfy(Self.isFree))
    }

    static func waitReady(_ port: Int) async throws {
        for _ in 0..<750 {
            if let (status, _) = try? await send(port, .get, "/readyz"), status == .ok { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("server on port \(port) did not become ready")
    }

    @Test("SIGKILL between requests loses no acknowledged step: the restarted process continues as the twin",
          .enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"))
    func killNine() async throws {
        let executable = try #require(radaExecutable)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rada-kill-\(UUID().uuidString)")
        let port = try Self.freePort()
        let backend = PixelStatisticsBackend(dimension: 16, logitScale: 100)
        var twin = try await TestData.twin(backend: backend)

        func classify(_ r: Int) async throws -> ClassifyReply {
            let (status, body) = try await Self.send(port, .post, "/v1/streams/k/classify", json: Client.imagesJSON(TestData.batch(r)))
            #expect(status == .ok)
            return try JSONDecoder().decode(ClassifyReply.self, from: body)
        }
        func expected(_ r: Int) async throws -> ClassifyReply {
            try await TestData.expected(&twin, TestData.batch(r), backend: backend)
        }

        let first = try Self.launch(executable, port: port, data: data)
        try await Self.waitReady(port)
        let labels = TestData.labels.map { "\"\($0)\"" }.joined(separator: ",")
        #expect(try await Self.send(port, .post, "/v1/streams", json: "{\"id\":\"k\",\"labels\":[\(labels)]}").0 == .created)
        for r in 0..<6 { #expect(try await classify(r) == (try await expected(r)), "before the kill, request \(r)") }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal)

        let second = try Self.launch(executable, port: port, data: data)
        defer {
            second.terminate()
            second.waitUntilExit()
        }
        try await Self.waitReady(port)
        for r in 6..<10 { #expect(try await classify(r) == (try await expected(r)), "after the restart, request \(r)") }
    }

    @Test("SIGKILL under load, snapshots in flight: every stream restarts with its acknowledged requests (and at most its one unanswered) and continues as the twin",
          .enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"))
    func killNineUnderLoad() async throws {
        let executable = try #require(radaExecutable)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rada-kill-load-\(UUID().uuidString)")
        let port = try Self.freePort()
        // D = 128: snapshots of about a megabyte, written on the snapshot threads every 2 records
        // while the next requests are journaled, so the kill often lands beside one.
        let backend = PixelStatisticsBackend(dimension: 128, logitScale: 100)
        let streams = (0..<4).map { "l\($0)" }
        @Sendable func batch(_ stream: Int, _ r: Int) -> [Data] { TestData.batch(r, stream: stream + 1) }
        @Sendable func classify(_ id: String, _ images: [Data]) async throws -> (HTTPResponse.Status, Data) {
            try await Self.send(port, .post, "/v1/streams/\(id)/classify", json: Client.imagesJSON(images))
        }

        let first = try Self.launch(executable, port: port, data: data, snapshotEvery: 2, dimension: 128)
        try await Self.waitReady(port)
        let labels = TestData.labels.map { "\"\($0)\"" }.joined(separator: ",")
        for id in streams { #expect(try await Self.send(port, .post, "/v1/streams", json: "{\"id\":\"\(id)\",\"labels\":[\(labels)]}").0 == .created) }
        final class Counts: Sendable { let value: Mutex<[Int]>; init(_ n: Int) { value = Mutex([Int](repeating: 0, count: n)) } }
        let acknowledged = Counts(streams.count)
        let clients = Task {
            await withTaskGroup(of: Void.self) { group in
                for (s, id) in streams.enumerated() {
                    group.addTask {
                        var r = 0
                        while let (status, _) = try? await classify(id, batch(s, r)), status == .ok {
                            acknowledged.value.withLock { $0[s] = r + 1 }
                            r += 1
                        }
                    }
                }
            }
        }
        // Kill once every stream is well under way (a loaded machine, or a sanitizer build, is
        // slower than 1.5 s would allow), at a moment the requests do not choose.
        let underway = Date().addingTimeInterval(120)
        while acknowledged.value.withLock({ $0.min()! }) < 6, Date() < underway { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(Int.random(in: 100...600)))
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        await clients.value
        let acked = acknowledged.value.withLock { $0 }
        #expect(acked.allSatisfy { $0 >= 4 }, "the streams were under load: \(acked) requests acknowledged")

        let second = try Self.launch(executable, port: port, data: data, snapshotEvery: 2, dimension: 128)
        defer {
            second.terminate()
            second.waitUntilExit()
        }
        try await Self.waitReady(port)
        for (s, id) in streams.enumerated() {
            let (status, body) = try await Self.send(port, .get, "/v1/streams/\(id)")
            #expect(status == .ok)
            let held = try #require((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["requests"] as? Int)
            // The request in flight at the kill may have been journaled, never answered.
            #expect(held == acked[s] || held == acked[s] + 1, "stream \(id): \(held) requests held, \(acked[s]) acknowledged")
            var twin = try await TestData.twin(backend: backend)
            for r in 0..<held { _ = try await TestData.expected(&twin, batch(s, r), backend: backend) }
            for r in held..<(held + 2) {
                let (status, body) = try await classify(id, batch(s, r))
                #expect(status == .ok)
                #expect(try JSONDecoder().decode(ClassifyReply.self, from: body) == (try await TestData.expected(&twin, batch(s, r), backend: backend)),
                        "stream \(id) after the restart, request \(r)")
            }
        }
    }

    @Test("SIGTERM drains and snapshots every stream: the journal is empty and the snapshot holds all requests",
          .enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"))
    func gracefulTerm() async throws {
        let executable = try #require(radaExecutable)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rada-term-\(UUID().uuidString)")
        let port = try Self.freePort()
        let server = try Self.launch(executable, port: port, data: data, snapshotEvery: 1000)
        try await Self.waitReady(port)
        #expect(try await Self.send(port, .post, "/v1/streams", json: "{\"id\":\"g\",\"labels\":[\"a\",\"b\"]}").0 == .created)
        for r in 0..<3 {
            #expect(try await Self.send(port, .post, "/v1/streams/g/classify", json: Client.imagesJSON(TestData.batch(r))).0 == .ok)
        }
        let directory = DataLayout(root: data).stream(client: "local", id: "g")
        #expect(Self.journalBytes(directory) > 0, "before shutdown the steps live in the journal")
        server.terminate()
        server.waitUntilExit()
        #expect(server.terminationReason == .exit && server.terminationStatus == 0)
        #expect(Self.journalBytes(directory) == 0 && directory.journalSegments().count == 1, "\(directory.journalSegments())")
        #expect(directory.snapshots().map(\.sequence) == [3])
        #expect(try StreamState(checkpoint: Data(contentsOf: directory.snapshotURL(3))).counters.batchesSeen == 3)
    }

    /// Bytes in all of a stream's journal segments.
    static func journalBytes(_ directory: StreamDirectory) -> Int {
        directory.journalSegments().reduce(0) { $0 + ((try? Data(contentsOf: $1.url))?.count ?? 0) }
    }
}
