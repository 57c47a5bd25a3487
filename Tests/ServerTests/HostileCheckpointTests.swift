import Adaptation
import Foundation
import Hummingbird
import RadaNumerics
import SafeTensors
import Testing
import StreamStore
@testable import Server

/// Issue #11, the checkpoint and stored-state attacks, each over a real socket: the server
/// answers with a clear 4xx/5xx, stays alive, and the stream's state is byte-identical after.
@Suite("Hostile checkpoints and stored state")
struct HostileCheckpointTests {
    static let octet = "application/octet-stream"

    static func withHeader(_ data: Data, _ edit: (inout [String: Any]) -> Void) throws -> Data {
        var file = try SafeTensorsWriter(copying: SafeTensorsFile(data: data, source: "test"))
        var header = try JSONSerialization.jsonObject(with: Data(file.metadata["rada.stream"]!.utf8)) as! [String: Any]
        edit(&header)
        file.metadata["rada.stream"] = String(decoding: try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]), as: UTF8.self)
        return file.encoded()
    }

    @Test("the 90-byte safetensors of a 2^31 x 2^31 tensor is a 422; server alive; stream unchanged", arguments: TestStore.available)
    func craftedShape(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            _ = try await client.createStream("s")
            _ = try await client.classify("s", TestData.batch(0))
            let before = try await client.stateBytes("s", tag: "before")
            let header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647],\"data_offsets\":[0,0]}}"
            var body = Data()
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { body.append(contentsOf: $0) }
            body.append(contentsOf: Array(header.utf8))
            let reply = try await client.send(.put, "/v1/streams/s/checkpoints/x", body: body, contentType: Self.octet)
            #expect(reply.status == .unprocessableContent, "\(String(buffer: reply.body))")
            #expect(reply.errorCode == "unprocessable")
            #expect(try await client.send(.get, "/healthz").status == .ok)
            #expect(try await client.send(.get, "/v1/streams/s/checkpoints/x").status == .notFound, "nothing was stored")
            #expect(try await client.stateBytes("s", tag: "after") == before)
        }
    }

    @Test("poisoned counters (2^63-1, -1), out-of-range values and unknown header fields are refused on upload; the stream keeps stepping", arguments: TestStore.available)
    func poisonedCounters(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            _ = try await client.createStream("s")
            _ = try await client.classify("s", TestData.batch(0))
            let good = try await client.stateBytes("s", tag: "good")
            var attacks: [(String, Data)] = []
            for counter in ["batchesSeen", "samplesSeen", "optimizerSteps"] {
                for value in [Int.max, -1] {
                    attacks.append(("\(counter)=\(value)", try Self.withHeader(good) { header in
                        var counters = header["counters"] as! [String: Any]
                        counters[counter] = value
                        header["counters"] = counters
                    }))
                }
            }
            attacks.append(("optimizerStep", try Self.withHeader(good) { $0["optimizerStep"] = Int.max }))
            attacks.append(("logitScale", try Self.withHeader(good) { $0["logitScale"] = 1e30 }))
            // A setting this server does not have would be read past without a word.
            attacks.append(("unknown nested field", try Self.withHeader(good) { header in
                var hyperparameters = header["hyperparameters"] as! [String: Any]
                var gate = hyperparameters["stepGate"] as! [String: Any]
                gate["coverageThreshold"] = 0.6
                hyperparameters["stepGate"] = gate
                header["hyperparameters"] = hyperparameters
            }))
            attacks.append(("unknown field", try Self.withHeader(good) { $0["futureField"] = true }))
            for (index, (name, data)) in attacks.enumerated() {
                let reply = try await client.send(.put, "/v1/streams/s/checkpoints/a\(index)", body: data, contentType: Self.octet)
                #expect(reply.status == .unprocessableContent, "\(name): \(String(buffer: reply.body))")
                #expect(try await client.send(.post, "/v1/streams/s/checkpoints/a\(index)/restore").status == .notFound, "\(name) was stored")
            }
            #expect(try await client.stateBytes("s", tag: "after") == good)
            let next = try await client.classify("s", TestData.batch(1))
            #expect(next.request == 2)
        }
    }

    @Test("a checkpoint at the edge of its bounds stays within them as it steps: its own checkpoints upload, it reloads after a restart",
          arguments: ["counters", "moments"])
    func edgeOfBounds(edge what: String) async throws {
        let first = TestServer()
        let limit = CheckpointBounds.counterLimit
        try await first.run { client in
            _ = try await client.createStream("s")
            _ = try await client.classify("s", TestData.batch(0))
            let good = try await client.stateBytes("s", tag: "good")
            var edge = try SafeTensorsWriter(copying: SafeTensorsFile(data: good, source: "good"))
            if what == "counters" {
                // One below the limit: the next request counts past it.
                edge = try SafeTensorsWriter(copying: SafeTensorsFile(data: try Self.withHeader(good) { header in
                    header["optimizerStep"] = limit - 1
                    var counters = header["counters"] as! [String: Any]
                    for name in ["samplesSeen", "batchesSeen", "optimizerSteps"] { counters[name] = limit - 1 }
                    header["counters"] = counters
                }, source: "edge"))
            } else {
                // Adam moments each within their bounds, but no gradient could produce them
                // together: |m| = 10⁶ where v = 0.
                let file = try SafeTensorsFile(data: good, source: "good")
                for name in file.names where name.hasPrefix("optim.exp_avg") {
                    let info = try #require(file.info(name))
                    let value: Float = name.hasPrefix("optim.exp_avg_sq") ? 0 : -CheckpointBounds.maxParameterMagnitude
                    edge.add(name, shape: info.shape, values: [Float](repeating: value, count: info.shape.reduce(1, *)))
                }
            }
            #expect(try await client.send(.put, "/v1/streams/s/checkpoints/edge", body: edge.encoded(), contentType: Self.octet).status == .created)
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints/edge/restore").status == .ok)
            for i in 1...6 { _ = try await client.classify("s", TestData.batch(i)) }
            let own = try await client.stateBytes("s", tag: "own")
            let reply = try await client.send(.put, "/v1/streams/s/checkpoints/own", body: own, contentType: Self.octet)
            #expect(reply.status == .created, "the stream's own checkpoint: \(String(buffer: reply.body))")
            if what == "counters" {
                let info = try client.object(try await client.send(.get, "/v1/streams/s"))
                #expect(info["samplesSeen"] as? Int == limit - 1, "held at the limit: \(info["samplesSeen"] ?? "none")")
                #expect(try StreamState(checkpoint: own).optimizer.step == limit - 1)
            } else {
                let mask = try StreamState(checkpoint: own).mask.values
                #expect(mask.allSatisfy { abs($0) <= CheckpointBounds.maxParameterMagnitude }, "largest \(mask.map(abs).max() ?? 0)")
            }
        }
        try await TestServer(dataDirectory: first.dataDirectory).run { client in
            let reply = try await client.send(.get, "/v1/streams/s")
            #expect(reply.status == .ok, "reloaded after a restart: \(String(buffer: reply.body))")
            _ = try await client.classify("s", TestData.batch(7))
        }
    }

    @Test("a restore keeps the stream's class embeddings and policy (409 otherwise); reset is its own zero-shot", arguments: TestStore.available)
    func restoreSemantics(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            _ = try await client.createStream("a")
            _ = try await client.createStream("b", hyperparameters: "{\"stepsPerBatch\":2}")
            _ = try await client.createStream("c")
            for r in 0..<3 { _ = try await client.classify("a", TestData.batch(r)) }
            let checkpoint = try await client.stateBytes("a", tag: "x")
            // Same labels, another policy: 409, nothing stored.
            let other = try await client.send(.put, "/v1/streams/b/checkpoints/x", body: checkpoint, contentType: Self.octet)
            #expect(other.status == .conflict, "\(String(buffer: other.body))")
            // Same labels, other class embeddings (as another model would give): 409.
            var file = try SafeTensorsWriter(copying: SafeTensorsFile(data: checkpoint, source: "test"))
            let text = try SafeTensorsFile(data: checkpoint, source: "test").floats("stream.text_embeddings")
            file.add("stream.text_embeddings", shape: [5, 16], values: text.enumerated().map { $0.offset % 16 == 0 ? -$0.element : $0.element })
            let moved = try await client.send(.put, "/v1/streams/c/checkpoints/x", body: file.encoded(), contentType: Self.octet)
            #expect(moved.status == .conflict, "\(String(buffer: moved.body))")
            // The real one restores; a reset after it answers exactly as a fresh stream.
            #expect(try await client.send(.put, "/v1/streams/c/checkpoints/x", body: checkpoint, contentType: Self.octet).status == .created)
            #expect(try client.object(try await client.send(.post, "/v1/streams/c/checkpoints/x/restore"))["requests"] as? Int == 3)
            #expect(try client.object(try await client.send(.post, "/v1/streams/c/reset"))["requests"] as? Int == 0)
            var twin = try await TestData.twin()
            #expect(try await client.classify("c", TestData.batch(7)) == (try await TestData.expected(&twin, TestData.batch(7))))
        }
    }

    @Test("uploads: name, owner and stream are checked before the body; size bounded by the stream's own checkpoints", arguments: TestStore.available)
    func uploadLimits(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            _ = try await client.createStream("s")
            let big = Data(count: 6 << 20)
            var reply = try await client.send(.put, "/v1/streams/nope/checkpoints/x", body: big, contentType: Self.octet)
            #expect(reply.status == .notFound && reply.errorCode == "not_found")
            reply = try await client.send(.put, "/v1/streams/s/checkpoints/x", key: "bob-key-4567", body: big, contentType: Self.octet)
            #expect(reply.status == .notFound, "another client's stream")
            reply = try await client.send(.put, "/v1/streams/s/checkpoints/.hidden", body: Data(count: 10), contentType: Self.octet)
            #expect(reply.status == .badRequest)
            // D = 16, K = 5: a checkpoint of this stream is at most the 4 MiB header limit plus
            // its 16 stored states of at most 64 KiB of header and ~40 kB of tensors each.
            reply = try await client.send(.put, "/v1/streams/s/checkpoints/x", body: big, contentType: Self.octet)
            #expect(reply.status == .contentTooLarge && reply.errorCode == "too_large", "\(String(buffer: reply.body))")
            #expect(String(buffer: reply.body).contains("at most"))
            // A taken name is a 409 from the head: the upload's bytes are never read.
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"taken\"}").status == .created)
            let connection = try RawConnection(port: try #require(client.client.port))
            await connection.write("PUT /v1/streams/s/checkpoints/taken HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-key-123\r\n"
                + "Content-Type: \(Self.octet)\r\nContent-Length: 100000\r\n\r\n")
            let (bytes, closed) = await connection.readUntilClosed(timeout: .seconds(10))
            let early = try #require(RawResponse(bytes), "an answer without the body")
            #expect(early.status == 409 && closed, "\(early.status)")
            #expect(try await client.send(.get, "/healthz").status == .ok)
        }
    }

    @Test("a stream whose stored state cannot be loaded is quarantined: 503 naming it, DELETE works, others unaffected")
    func quarantine() async throws {
        let first = TestServer()
        try await first.run { client in
            _ = try await client.createStream("bad")
            _ = try await client.createStream("good")
            _ = try await client.classify("bad", TestData.batch(0))
            _ = try await client.classify("good", TestData.batch(0))
        }
        // What an older server could have written after restoring a poisoned checkpoint.
        let directory = DataLayout(root: first.dataDirectory).stream(client: "alice", id: "bad")
        let snapshot = try #require(directory.snapshots().first)
        let poisoned = try Self.withHeader(try Data(contentsOf: snapshot.url)) { header in
            var counters = header["counters"] as! [String: Any]
            counters["batchesSeen"] = Int.max
            header["counters"] = counters
        }
        try poisoned.write(to: snapshot.url)
        let second = TestServer(dataDirectory: first.dataDirectory)
        try await second.run { client in
            for (method, path) in [(HTTPRequest.Method.get, "/v1/streams/bad"), (.post, "/v1/streams/bad/reset"),
                                   (.get, "/v1/streams/bad/checkpoints")] {
                let reply = try await client.send(method, path)
                #expect(reply.status == .serviceUnavailable, "\(method) \(path): \(String(buffer: reply.body))")
                #expect(reply.errorCode == APIError.quarantinedCode)
                #expect(reply.errorField("message")?.hasPrefix("stream \"bad\" is quarantined") == true)
                #expect(!String(buffer: reply.body).contains(first.dataDirectory.path), "no paths in the body")
            }
            let classify = try await client.send(.post, "/v1/streams/bad/classify", json: Client.imagesJSON(TestData.batch(1)))
            #expect(classify.status == .serviceUnavailable)
            #expect(try await client.classify("good", TestData.batch(1)).request == 2)
            #expect(second.metrics.exposition().contains("rada_streams_quarantined_count 1"))
            #expect(try await client.send(.delete, "/v1/streams/bad", key: "bob-key-4567").status == .notFound, "only the owner deletes")
            #expect(try await client.send(.delete, "/v1/streams/bad").status == .noContent)
            #expect(try await client.send(.get, "/v1/streams/bad").status == .notFound)
            #expect(second.metrics.exposition().contains("rada_streams_quarantined_count 0"))
            #expect(try await client.createStream("bad").status == .created, "the id can be used again")
        }
    }

    @Test("a journal record or snapshot at the top of the sequence range, or a record out of order, quarantines its stream; no crash")
    func damagedSequences() async throws {
        let first = TestServer()
        try await first.run { client in
            for id in ["top", "again", "named", "good"] {
                _ = try await client.createStream(id)
                _ = try await client.classify(id, TestData.batch(0))
                _ = try await client.classify(id, TestData.batch(1))
            }
        }
        // Records with valid frames and checksums, as a damaged or edited file could hold them,
        // appended through the store itself.
        let store = LocalStreamStore(root: first.dataDirectory)
        let features = Matrix(rows: 1, cols: 16, storage: [Float](repeating: 0.25, count: 16))
        // "again": the record due after the newest snapshot, then the same sequence once more.
        let due = try #require(DataLayout(root: first.dataDirectory).stream(client: "alice", id: "again").snapshots().first).sequence
        for (id, sequences) in [("top", [UInt64.max]), ("again", [due, due])] {
            let opened = try store.open(StreamKey(client: "alice", id: id)) { _ in true }
            for sequence in sequences {
                try opened.handle.append(sequence: sequence, payload: JournalRecord(sequence: sequence, adapt: true, features: features, time: 0, idempotencyKey: nil).payload())
            }
            opened.handle.release()
        }
        // A snapshot renamed to the top of the range: the stream's only one.
        let named = DataLayout(root: first.dataDirectory).stream(client: "alice", id: "named")
        let snapshot = try #require(named.snapshots().first)
        try FileManager.default.moveItem(at: snapshot.url, to: named.snapshotURL(UInt64.max))
        let second = TestServer(dataDirectory: first.dataDirectory)
        try await second.run { client in
            for id in ["top", "again", "named"] {
                for (method, path, json) in [(HTTPRequest.Method.get, "/v1/streams/\(id)", nil as String?),
                                             (.post, "/v1/streams/\(id)/classify", Client.imagesJSON(TestData.batch(2)))] {
                    let reply = try await client.send(method, path, json: json)
                    #expect(reply.status == .serviceUnavailable && reply.errorCode == APIError.quarantinedCode, "\(method) \(path): \(String(buffer: reply.body))")
                }
            }
            #expect(try await client.classify("good", TestData.batch(2)).request == 3)
            #expect(second.metrics.exposition().contains("rada_streams_quarantined_count 3"))
        }
    }
}
