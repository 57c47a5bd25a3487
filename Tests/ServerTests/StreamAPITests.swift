import Adaptation
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

@Suite("Stream API over a live socket")
struct StreamAPITests {
    @Test("health, readiness, metrics and the OpenAPI document are served without a key", arguments: TestStore.available)
    func publicEndpoints(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            #expect(try await client.send(.get, "/healthz", key: nil).status == .ok)
            var ready = false
            for _ in 0..<200 where !ready {
                ready = try await client.send(.get, "/readyz", key: nil).status == .ok
                if !ready { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(ready)
            let openapi = try await client.send(.get, "/openapi.yaml", key: nil)
            #expect(String(buffer: openapi.body).hasPrefix("openapi: 3.1"))
            _ = try await client.createStream("m")
            _ = try await client.classify("m", TestData.batch(1))
            _ = try await client.classify("m", TestData.batch(2))
            // Methods outside the usual seven are counted as "other": clients cannot add series.
            for _ in 0..<3 { _ = try await client.send(HTTPRequest.Method("PROPFIND")!, "/healthz", key: nil) }
            let metrics = String(buffer: try await client.send(.get, "/metrics", key: nil).body)
            #expect(metrics.contains("rada_images_classified_total 5"))
            #expect(metrics.contains("rada_http_requests_total{route=\"/v1/streams\",method=\"POST\",status=\"201\"} 1"))
            #expect(metrics.contains("rada_http_requests_total{route=\"/v1/streams/{id}/classify\",method=\"POST\",status=\"200\"} 2"))
            let other = metrics.split(separator: "\n").filter { $0.hasPrefix("rada_http_requests_total{") && $0.contains("method=\"other\"") }
            #expect(other.count == 1 && other.first?.hasSuffix(" 3") == true, "\(other)")
            #expect(!metrics.contains("PROPFIND"))
            #expect(metrics.contains("rada_http_request_duration_seconds_bucket{route=\"/v1/streams/{id}/classify\""))
            #expect(metrics.contains("rada_adaptation_steps_total"))
        }
    }

    @Test("create, get, list, classify, reset and delete a stream; answers equal a local twin bit for bit", arguments: TestStore.available)
    func lifecycle(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            let created = try client.object(try await client.send(.post, "/v1/streams", json: "{\"labels\":[\"cat\",\"dog\",\"bird\",\"fish\",\"horse\"]}"), .created)
            let generated = try #require(created["id"] as? String)
            #expect(generated.count == 36)
            #expect(try client.object(try await client.createStream("s1"), .created)["requests"] as? Int == 0)
            let list = try client.object(try await client.send(.get, "/v1/streams"))
            #expect(Set((list["streams"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }) == [generated, "s1"])

            var twin = try await TestData.twin()
            var first: ClassifyReply?
            for r in 0..<5 {
                let reply = try await client.classify("s1", TestData.batch(r))
                let expected = try await TestData.expected(&twin, TestData.batch(r))
                #expect(reply == expected, "request \(r)")
                #expect(reply.request == r + 1)
                if r == 0 { first = reply }
            }
            // adapt=false predicts without an optimiser step; top=2 trims the list.
            let frozen = try await client.classify("s1", TestData.batch(5), query: "?adapt=false&top=2")
            #expect(frozen == (try await TestData.expected(&twin, TestData.batch(5), adapt: false, top: 2)))
            #expect(frozen.optimizerSteps == 0 && frozen.results[0].top.count == 2)

            let info = try client.object(try await client.send(.get, "/v1/streams/s1"))
            #expect(info["requests"] as? Int == 6)
            #expect(info["samplesSeen"] as? Int == twin.counters.samplesSeen)
            #expect(info["optimizerSteps"] as? Int == twin.counters.optimizerSteps)
            // The stream's memory is its engine state's and its history's (the registry's budget counts both).
            let history = try client.object(try await client.send(.get, "/v1/streams/s1/history"))
            let historyBytes = try #require(history["usedBytes"] as? Int)
            #expect(historyBytes > 0)
            #expect((info["memoryBytes"] as? Int ?? 0) == twin.memoryBytes + historyBytes)
            #expect(info["runningEntropy"] as? Double != nil)

            let reset = try client.object(try await client.send(.post, "/v1/streams/s1/reset"))
            #expect(reset["requests"] as? Int == 0)
            let again = try await client.classify("s1", TestData.batch(0))
            #expect(again == first, "after reset the stream answers as a fresh one")

            #expect(try await client.send(.delete, "/v1/streams/s1").status == .noContent)
            #expect(try await client.send(.get, "/v1/streams/s1").status == .notFound)
            #expect(try await client.send(.post, "/v1/streams/s1/classify", json: Client.imagesJSON(TestData.batch(0))).status == .notFound)
        }
    }

    @Test("Idempotency-Key: a retry of the stream's latest request is answered again, byte for byte, and not applied again, also by a server that reloads the stream from the store as after a crash; a bad key is 400", arguments: TestStore.available)
    func idempotencyKey(store: TestStore) async throws {
        // Six requests with a snapshot every two records: the sixth is due for one, which a keyed
        // request takes before its own record, so the record (and its key) stays in the store.
        // Two servers on one store: the second loads the stream as after the first one's crash
        // (a copy of its live data directory; a takeover once its short lease has lapsed), while
        // the first still runs (a graceful shutdown would snapshot the stream and forget the key).
        let url = store == .postgres ? try ScratchPostgres.isolatedURL() : nil
        let first = Self.keyedServer(url, "a")
        let directory = first.dataDirectory
        try await first.run { client in
            var twin = try await TestData.twin()
            _ = try await client.createStream("i")
            var last = Data()
            for r in 0..<6 {
                let reply = try await Self.keyedClassify(client, r, key: "request-\(r)")
                let retry = try await Self.keyedClassify(client, r, key: "request-\(r)")
                #expect(reply.status == .ok && retry.status == .ok)
                #expect(try JSONDecoder().decode(ClassifyReply.self, from: Data(buffer: reply.body)) == (try await TestData.expected(&twin, TestData.batch(r))), "request \(r)")
                #expect(Data(buffer: retry.body) == Data(buffer: reply.body), "request \(r): the retry gets the same answer")
                last = Data(buffer: reply.body)
            }
            #expect(try await Self.steps(client, "i") == 6, "each request applied once")
            for bad in ["has space", String(repeating: "k", count: IdempotencyKey.maxLength + 1)] {
                let refused = try await Self.keyedClassify(client, 9, key: bad)
                #expect(refused.status == .badRequest && refused.errorCode == "bad_request", "\(bad.prefix(20))")
            }
            #expect(try await Self.steps(client, "i") == 6, "a refused key changes nothing")

            let crashed = try url == nil ? DurabilityTests.crashImage(of: directory) : nil
            if url != nil { try await Task.sleep(for: .milliseconds(300)) }
            let answer = last
            let checked = twin
            try await Self.keyedServer(url, "b", data: crashed).run { client in
                var twin = checked
                let retry = try await Self.keyedClassify(client, 5, key: "request-5")
                #expect(retry.status == .ok && Data(buffer: retry.body) == answer, "the reloaded stream answers the retry of its latest request again")
                #expect(try await Self.steps(client, "i") == 6)
                let next = try await Self.keyedClassify(client, 6, key: "request-6")
                #expect(try JSONDecoder().decode(ClassifyReply.self, from: Data(buffer: next.body)) == (try await TestData.expected(&twin, TestData.batch(6))))
                // As documented: a checkpoint save snapshots the stream and forgets the key, so a
                // retry after it is a new request (Docs/api.md: retry before such a call).
                #expect(try await client.send(.post, "/v1/streams/i/checkpoints", json: "{\"name\":\"after-6\"}").status == .created)
                #expect(try await Self.keyedClassify(client, 6, key: "request-6").status == .ok)
                #expect(try await Self.steps(client, "i") == 8)
            }
        }
    }

    /// A server snapshotting every 2 records, on the PostgreSQL database at `url` (a short
    /// lease) or on a data directory.
    static func keyedServer(_ url: String?, _ name: String, data: URL? = nil) -> TestServer {
        TestServer(dataDirectory: data) { configuration in
            configuration.snapshotEveryRecords = 2
            if let url { configuration.store = try? ScratchPostgres.store(url, server: name, leaseSeconds: 0.2) }
        }
    }

    static func keyedClassify(_ client: Client, _ r: Int, key: String) async throws -> Reply {
        var headers = HTTPFields()
        headers[HTTPFields.Element.Name("Idempotency-Key")!] = key
        return try await client.send(.post, "/v1/streams/i/classify", json: Client.imagesJSON(TestData.batch(r)), headers: headers)
    }

    static func steps(_ client: Client, _ id: String) async throws -> Int? {
        try client.object(try await client.send(.get, "/v1/streams/\(id)"))["requests"] as? Int
    }

    @Test("multipart/form-data with several files gives the same answer as base64 JSON", arguments: TestStore.available)
    func multipart(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            _ = try await client.createStream("a")
            _ = try await client.createStream("b")
            let images = TestData.batch(2)
            let boundary = "XyZ-boundary-42"
            var body = Data()
            for (i, image) in images.enumerated() {
                body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\(i).png\"\r\nContent-Type: image/png\r\n\r\n".utf8))
                body.append(image)
                body.append(Data("\r\n".utf8))
            }
            body.append(Data("--\(boundary)--\r\n".utf8))
            let response = try await client.send(.post, "/v1/streams/a/classify", body: body, contentType: "multipart/form-data; boundary=\(boundary)")
            #expect(response.status == .ok)
            let viaMultipart = try JSONDecoder().decode(ClassifyReply.self, from: Data(buffer: response.body))
            #expect(viaMultipart.results.count == 3)
            #expect(viaMultipart == (try await client.classify("b", images)))
        }
    }

    /// A misspelt optional field would be read past and its defaults used: every JSON request
    /// body refuses a field it does not have (400 naming it), and nothing is created or saved.
    @Test("unknown top-level fields of a JSON body are a 400 that names them; nothing changes", arguments: TestStore.available)
    func unknownBodyFields(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            let typo = try await client.send(.post, "/v1/streams", json: #"{"id": "typo", "labels": ["cat", "dog"], "hyperparamters": {"stepsPerBatch": 2}}"#)
            #expect(typo.status == .badRequest && typo.errorCode == "bad_request")
            #expect(String(buffer: typo.body).contains("hyperparamters") && String(buffer: typo.body).contains("hyperparameters"))
            #expect(try await client.send(.get, "/v1/streams/typo").status == .notFound)
            #expect(try client.object(try await client.createStream("s"), .created)["id"] as? String == "s")
            let save = try await client.send(.post, "/v1/streams/s/checkpoints", json: #"{"name": "c1", "overwrite": true}"#)
            #expect(save.status == .badRequest && String(buffer: save.body).contains("overwrite"))
            #expect(try await client.send(.get, "/v1/streams/s/checkpoints/c1").status == .notFound)
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: #"{"name": "c1"}"#).status == .created)
            let image = PNGWriter.sample(0).base64EncodedString()
            let stateless = try await client.send(.post, "/v1/classify", json: #"{"labels": ["a", "b"], "templates": ["a {}"], "image": "x", "images": ["\#(image)"]}"#)
            #expect(stateless.status == .badRequest && String(buffer: stateless.body).contains(#"unknown field \"image\""#))
            #expect(try await client.send(.post, "/v1/classify", json: #"{"labels": ["a", "b"], "images": ["\#(image)"]}"#).status == .ok)
        }
    }

    @Test("a hyperparameters patch overrides defaults (also under its deprecated name policy); unknown fields and bad values are 422, both names 400", arguments: TestStore.available)
    func hyperparameters(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            let created = try client.object(try await client.createStream("p", hyperparameters: "{\"policy\":\"adaptThenPredict\",\"stepsPerBatch\":2}"), .created)
            let hyperparameters = try #require(created["hyperparameters"] as? [String: Any])
            #expect(hyperparameters["policy"] as? String == "adaptThenPredict" && hyperparameters["stepsPerBatch"] as? Int == 2)
            #expect(created["policy"] == nil && created["steps"] == nil && created["requests"] as? Int == 0)
            // The deprecated alias sets the same fields; giving both names is refused and creates nothing.
            let aliased = try client.object(
                try await client.send(.post, "/v1/streams", json: #"{"id": "alias", "labels": ["cat", "dog"], "policy": {"stepsPerBatch": 3}}"#), .created)
            #expect((aliased["hyperparameters"] as? [String: Any])?["stepsPerBatch"] as? Int == 3)
            let both = try await client.send(.post, "/v1/streams", json: #"{"id": "both", "labels": ["cat"], "hyperparameters": {}, "policy": {}}"#)
            #expect(both.status == .badRequest && both.errorCode == "bad_request")
            #expect(try await client.send(.get, "/v1/streams/both").status == .notFound)
            var hyper = RAdaHyperparameters()
            hyper.policy = .adaptThenPredict
            hyper.stepsPerBatch = 2
            var twin = try await TestData.twin(hyperparameters: hyper)
            for r in 0..<3 {
                #expect(try await client.classify("p", TestData.batch(r)) == (try await TestData.expected(&twin, TestData.batch(r))))
            }
            #expect(try await client.createStream("q", hyperparameters: "{\"bogus\":1}").status == .unprocessableContent)
            #expect(try await client.createStream("q", hyperparameters: "{\"stepsPerBatch\":-1}").status == .unprocessableContent)
            #expect(try await client.createStream("q", hyperparameters: "{\"policy\":\"sometimes\"}").status == .unprocessableContent)
            // Embedding centring: a partial object keeps the other fields' defaults; the stream
            // answers as its local twin, whose running mean fills from the second request on.
            let centred = try client.object(
                try await client.createStream("c", hyperparameters: #"{"centring":{"weight":0.5,"entropyThreshold":0}}"#), .created)
            let centring = try #require((centred["hyperparameters"] as? [String: Any])?["centring"] as? [String: Any])
            let defaults = RAdaHyperparameters().centring
            #expect(centring["weight"] as? Double == 0.5 && centring["entropyThreshold"] as? Double == 0)
            #expect(centring["memoryImages"] as? Double == defaults.memoryImages && centring["entropyRamp"] as? Double == defaults.entropyRamp)
            var centredHyperparameters = RAdaHyperparameters()
            centredHyperparameters.centring.weight = 0.5
            centredHyperparameters.centring.entropyThreshold = 0
            var centredTwin = try await TestData.twin(hyperparameters: centredHyperparameters)
            for r in 0..<4 {
                #expect(try await client.classify("c", TestData.batch(r)) == (try await TestData.expected(&centredTwin, TestData.batch(r))), "request \(r)")
            }
            #expect(centredTwin.embeddingMean.weight > 0)
            // The stream reports where its centring stands, as the twin computes it.
            let status = try #require(try client.object(try await client.send(.get, "/v1/streams/c"))["centring"] as? [String: Any])
            // (Doubles through JSON: equal to their last digit or so.)
            #expect(abs((status["images"] as? Double ?? -1) - centredTwin.embeddingMean.weight) <= 1e-12 * centredTwin.embeddingMean.weight)
            #expect(abs((status["zeroShotEntropy"] as? Double ?? -1) - centredTwin.embeddingMean.entropy) <= 1e-12)
            let share = try #require(status["share"] as? Double)
            #expect(Float(share) == centredTwin.embeddingMean.share(centredTwin.hyperparameters.centring) && share > 0 && share <= 0.5)
            _ = try client.object(try await client.createStream("off", hyperparameters: #"{"centring":{"weight":0}}"#), .created)
            _ = try await client.classify("off", TestData.batch(0))
            let off = try #require(try client.object(try await client.send(.get, "/v1/streams/off"))["centring"] as? [String: Any])
            #expect(off["share"] as? Double == 0 && off["images"] as? Double == 0 && off["zeroShotEntropy"] as? Double == 0)
            // Class Gaussians: a partial object turns them on; the stream answers as its twin and
            // reports the weight the twin's next request would give them.
            _ = try client.object(try await client.createStream(
                "g", hyperparameters: #"{"gaussians":{"maxWeight":3},"centring":{"weight":1,"entropyThreshold":0}}"#), .created)
            var gaussianHyperparameters = RAdaHyperparameters()
            gaussianHyperparameters.gaussians.maxWeight = 3
            gaussianHyperparameters.centring.entropyThreshold = 0
            var gaussianTwin = try await TestData.twin(hyperparameters: gaussianHyperparameters)
            for r in 0..<4 {
                #expect(try await client.classify("g", TestData.batch(r)) == (try await TestData.expected(&gaussianTwin, TestData.batch(r))), "request \(r)")
            }
            let gaussians = try #require(try client.object(try await client.send(.get, "/v1/streams/g"))["gaussians"] as? [String: Any])
            #expect(gaussians["images"] as? Double == gaussianTwin.gaussians.images && gaussianTwin.gaussians.images > 0)
            #expect(abs((gaussians["weight"] as? Double ?? -1) - gaussianTwin.gaussianWeight) <= 1e-12 && gaussianTwin.gaussianWeight > 0)
            #expect(try await client.createStream("q", hyperparameters: #"{"gaussians":{"forgetting":1}}"#).status == .unprocessableContent)
            #expect(try await client.createStream("q", hyperparameters: #"{"centring":{"weight":5}}"#).status == .unprocessableContent)
            #expect(try await client.createStream("q", hyperparameters: #"{"centring":{"memoryImages":0}}"#).status == .unprocessableContent)
        }
    }

    @Test("stateless zero-shot classification equals the zero-shot stream answer", arguments: TestStore.available)
    func stateless(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            _ = try await client.createStream("z")
            let images = TestData.batch(1)
            let labels = TestData.labels.map { "\"\($0)\"" }.joined(separator: ",")
            let response = try await client.send(.post, "/v1/classify?top=3", json: "{\"labels\":[\(labels)],\"images\":[\(images.map { "\"\($0.base64EncodedString())\"" }.joined(separator: ","))]}")
            #expect(response.status == .ok)
            let reply = try JSONDecoder().decode(ClassifyReply.self, from: Data(buffer: response.body))
            let stream = try await client.classify("z", images, query: "?top=3")
            #expect(reply.results.count == 2 && reply.request == nil)
            for (a, b) in zip(reply.results, stream.results) {
                #expect(a.top.map(\.label) == b.top.map(\.label))
                for (p, q) in zip(a.top, b.top) { #expect(abs(p.probability - q.probability) <= 1e-5) }
            }
        }
    }
}
