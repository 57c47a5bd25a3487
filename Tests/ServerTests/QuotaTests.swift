import Foundation
import Adaptation
import StreamStore
import Testing
@testable import Server

/// A client's stored streams and a stream's checkpoints are capped, so one key cannot fill the
/// disk: one more is 409 `quota_exceeded`, nothing is created, and deleting one makes room.
@Suite("Quotas: streams per client, checkpoints per stream")
struct QuotaTests {
    static func streamCount(_ client: Client, key: String = "alice-key-123") async throws -> Int {
        let list = try client.object(try await client.send(.get, "/v1/streams", key: key))
        return (list["streams"] as? [Any])?.count ?? -1
    }

    @Test("a client at its stream limit is refused with 409 quota_exceeded; another client is not; deleting makes room")
    func streamsPerClient() async throws {
        try await TestServer { $0.limits.maxStreamsPerClient = 3 }.run { client in
            for s in 0..<3 { #expect(try await client.createStream("s\(s)").status == .created) }
            let refused = try await client.createStream("s3")
            #expect(refused.status == .conflict)
            #expect(refused.errorCode == "quota_exceeded")
            #expect(String(buffer: refused.body).contains("limit of 3"))
            #expect(try await Self.streamCount(client) == 3, "nothing created")
            #expect(try await client.send(.get, "/v1/streams/s3").status == .notFound)
            #expect(try await client.createStream("b0", key: "bob-key-4567").status == .created, "the quota is per client")
            #expect(try await client.send(.delete, "/v1/streams/s0").status == .noContent)
            #expect(try await client.createStream("s3").status == .created)
            #expect(try await Self.streamCount(client) == 3)
        }
    }

    @Test("a listing reads the store a few streams at a time and returns them all, in order")
    func listingPages() async throws {
        try await TestServer().run { client in
            let ids = (0..<(3 * StreamService.listPage + 1)).map { "s\($0)" }
            for id in ids.shuffled() { #expect(try await client.createStream(id).status == .created) }
            let list = try client.object(try await client.send(.get, "/v1/streams"))
            #expect((list["streams"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ids.sorted())
        }
    }

    @Test("concurrent creations cannot pass the stream limit together")
    func concurrentCreations() async throws {
        try await TestServer { $0.limits.maxStreamsPerClient = 3 }.run { client in
            #expect(try await client.createStream("first").status == .created)
            let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for s in 0..<12 {
                    group.addTask {
                        let reply = try await client.createStream("c\(s)")
                        return (Int(reply.status.code), reply.errorCode)
                    }
                }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            let created = statuses.filter { $0.0 == 201 }.count
            #expect(statuses.allSatisfy { $0.0 == 201 || ($0.0 == 409 && $0.1 == "quota_exceeded") }, "\(statuses)")
            #expect(created == 2, "\(created) of 12 concurrent creations passed a limit with 2 left")
            #expect(try await Self.streamCount(client) == 1 + created)
        }
    }

    @Test("a stream at its checkpoint limit refuses one more, saved or uploaded (before the body); deleting makes room")
    func checkpointsPerStream() async throws {
        try await TestServer { $0.limits.maxCheckpointsPerStream = 2 }.run { client in
            #expect(try await client.createStream("s").status == .created)
            for name in ["a", "b"] {
                #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"\(name)\"}").status == .created)
            }
            let saved = try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"c\"}")
            #expect(saved.status == .conflict)
            #expect(saved.errorCode == "quota_exceeded")
            #expect(String(buffer: saved.body).contains("limit of 2"))
            let file = Data(buffer: try await client.send(.get, "/v1/streams/s/checkpoints/a").body)
            let uploaded = try await client.send(.put, "/v1/streams/s/checkpoints/d", body: file, contentType: "application/octet-stream")
            #expect(uploaded.status == .conflict)
            #expect(uploaded.errorCode == "quota_exceeded")
            let list = try client.object(try await client.send(.get, "/v1/streams/s/checkpoints"))
            #expect((list["checkpoints"] as? [[String: Any]])?.compactMap { $0["name"] as? String }.sorted() == ["a", "b"])
            #expect(try await client.send(.delete, "/v1/streams/s/checkpoints/a").status == .noContent)
            #expect(try await client.send(.put, "/v1/streams/s/checkpoints/d", body: file, contentType: "application/octet-stream").status == .created)
        }
    }

    @Test("a client's stored bytes are capped: concurrent checkpoint saves on its streams cannot pass the limit together; a stream, a save or an upload past it is 409 and stores nothing; other clients are not affected", arguments: TestStore.available)
    func storedBytesPerClient(_ store: TestStore) async throws {
        // D = 256: a state of about 5 MB, so a stream's metadata and empty journal are noise.
        let backend = PixelStatisticsBackend(dimension: 256, logitScale: 50)
        let state = try await TestData.twin(backend: backend).checkpointData().count
        // Four streams and two checkpoints fit; a seventh state does not.
        var server = try TestServer.on(store) { $0.limits.maxClientStorageBytes = 6 * state + state / 2 }
        server.backend = backend
        try await server.run { client in
            for s in 0..<4 { #expect(try await client.createStream("s\(s)").status == .created) }
            let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for s in 0..<4 {
                    for k in 0..<2 {
                        group.addTask {
                            let reply = try await client.send(.post, "/v1/streams/s\(s)/checkpoints", json: #"{"name":"c\#(k)"}"#)
                            return (Int(reply.status.code), reply.errorCode)
                        }
                    }
                }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.0 == 201 || ($0.0 == 409 && $0.1 == "quota_exceeded") }, "\(statuses)")
            #expect(statuses.filter { $0.0 == 201 }.count == 2, "\(statuses)")
            var saved: [(stream: Int, name: String)] = []
            for s in 0..<4 {
                let list = try client.object(try await client.send(.get, "/v1/streams/s\(s)/checkpoints"))["checkpoints"] as? [[String: Any]] ?? []
                saved += list.compactMap { $0["name"] as? String }.map { (s, $0) }
            }
            #expect(saved.count == 2, "what was refused stored nothing")

            let stream = try await client.createStream("s4")
            #expect(stream.status == .conflict && stream.errorCode == "quota_exceeded" && String(buffer: stream.body).contains("max-client-storage-mb"),
                    "\(stream.status) \(String(buffer: stream.body))")
            #expect(try await client.send(.get, "/v1/streams/s4").status == .notFound)
            let first = try #require(saved.first)
            let file = try await client.send(.get, "/v1/streams/s\(first.stream)/checkpoints/\(first.name)")
            let upload = try await client.send(
                .put, "/v1/streams/s\(first.stream)/checkpoints/copy", body: Data(buffer: file.body), contentType: "application/octet-stream")
            #expect(upload.status == .conflict && upload.errorCode == "quota_exceeded", "\(upload.status) \(String(buffer: upload.body))")

            #expect(try await client.createStream("b", key: "bob-key-4567").status == .created, "the limit is per client")
            #expect(try await client.send(.post, "/v1/streams/b/checkpoints", key: "bob-key-4567", json: #"{"name":"c"}"#).status == .created)
            #expect(try await client.send(.delete, "/v1/streams/s\(first.stream)/checkpoints/\(first.name)").status == .noContent)
            #expect(try await client.send(.put, "/v1/streams/s\(first.stream)/checkpoints/copy", body: Data(buffer: file.body),
                                          contentType: "application/octet-stream").status == .created, "deleting made room")
        }
    }

    @Test("the local store counts a client's bytes as the sum of its files' sizes")
    func localStoredBytes() async throws {
        let server = TestServer()
        let root = server.dataDirectory
        try await server.run { client in
            for s in 0..<3 { #expect(try await client.createStream("s\(s)").status == .created) }
            _ = try await client.classify("s0", TestData.batch(0))
            #expect(try await client.send(.post, "/v1/streams/s1/checkpoints", json: #"{"name":"c"}"#).status == .created)
        }
        let streams = DataLayout(root: root).streamsURL(client: "alice")
        var expected = 0
        for case let url as URL in FileManager.default.enumerator(at: streams, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey])! {
            let values = try url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
            if values.isRegularFile == true { expected += values.fileSize ?? 0 }
        }
        #expect(expected > 3 * 1000)
        #expect(try LocalStreamStore(root: root).storedBytes(client: "alice") == expected)
        #expect(try LocalStreamStore(root: root).storedBytes(client: "nobody") == 0)
    }
}
