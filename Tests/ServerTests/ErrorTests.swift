import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

@Suite("Errors, limits and client isolation")
struct ErrorTests {
    /// The error body must be exactly `{"error": {"code", "message"}}`.
    static func code(_ response: Reply) throws -> String {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
        let error = try #require(object["error"] as? [String: Any])
        #expect(object.count == 1 && error.count == 2 && !(error["message"] as? String ?? "").isEmpty)
        return try #require(error["code"] as? String)
    }

    @Test("401 without or with a wrong key; another client's stream is a 404 for every route", arguments: TestStore.available)
    func authAndIsolation(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            var response = try await client.send(.get, "/v1/streams", key: nil)
            #expect(response.status == .unauthorized)
            #expect(try Self.code(response) == "unauthorized")
            #expect(try await client.send(.get, "/v1/streams", key: "not-a-valid-key").status == .unauthorized)
            _ = try await client.createStream("mine")
            _ = try await client.send(.post, "/v1/streams/mine/checkpoints", json: "{\"name\":\"c1\"}")
            let bob = "bob-key-4567"
            response = try await client.send(.get, "/v1/streams", key: bob)
            #expect((try client.object(response)["streams"] as? [Any])?.count == 0)
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/streams/mine"), (.delete, "/v1/streams/mine"), (.post, "/v1/streams/mine/reset"),
                (.get, "/v1/streams/mine/checkpoints"), (.get, "/v1/streams/mine/checkpoints/c1"),
                (.post, "/v1/streams/mine/checkpoints/c1/restore"), (.delete, "/v1/streams/mine/checkpoints/c1"),
            ] {
                let r = try await client.send(method, path, key: bob)
                #expect(r.status == .notFound, "\(method) \(path)")
                #expect(try Self.code(r) == "not_found")
            }
            #expect(try await client.send(.post, "/v1/streams/mine/classify", key: bob, json: Client.imagesJSON(TestData.batch(0))).status == .notFound)
            // Bob may use the same id for his own stream; it is a different stream.
            #expect(try await client.createStream("mine", key: bob).status == .created)
            #expect(try client.object(try await client.send(.get, "/v1/streams/mine"))["requests"] as? Int == 0)
        }
    }

    @Test("400, 404, 409, 413, 415 and 422 with the one JSON error shape", arguments: TestStore.available)
    func statuses(store: TestStore) async throws {
        try await TestServer.on(store) {
            $0.limits.maxImagesPerRequest = 3
            $0.limits.maxLabelsPerStream = 4
            $0.limits.maxBodyBytes = 200_000
            $0.limits.maxPixelsPerImage = 10_000
        }.run { client in
            func check(_ response: Reply, _ status: HTTPResponse.Status, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
                #expect(response.status == status, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
                #expect(try Self.code(response) == code, sourceLocation: sourceLocation)
                // An error may repeat the client's text: never sniffed as anything but JSON, never cached.
                #expect(response.headers[.xContentTypeOptions] == "nosniff" && response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
            }
            let listing = try await client.send(.get, "/v1/streams")
            #expect(listing.status == .ok && listing.headers[.xContentTypeOptions] == "nosniff" && listing.headers[.cacheControl] == "no-store")
            try check(try await client.send(.post, "/v1/streams", json: "{not json"), .badRequest, "bad_request")
            try check(try await client.send(.post, "/v1/streams", json: "{\"labels\":\"cat\"}"), .badRequest, "bad_request")
            try check(try await client.send(.post, "/v1/streams", json: "{\"id\":\"../etc\",\"labels\":[\"a\"]}"), .badRequest, "bad_request")
            try check(try await client.send(.post, "/v1/streams", body: Data("labels".utf8), contentType: "text/plain"), .unsupportedMediaType, "unsupported_media_type")
            try check(try await client.send(.post, "/v1/streams", json: "{\"labels\":[]}"), .unprocessableContent, "unprocessable")
            try check(try await client.send(.post, "/v1/streams", json: "{\"labels\":[\"a\",\"a\"]}"), .unprocessableContent, "unprocessable")
            try check(try await client.createStream("big", labels: ["a", "b", "c", "d", "e"]), .contentTooLarge, "too_large")
            try check(try await client.send(.get, "/v1/nothing-here"), .notFound, "not_found")
            _ = try await client.createStream("s", labels: ["a", "b", "c"])
            try check(try await client.createStream("s", labels: ["a", "b"]), .conflict, "conflict")

            let good = PNGWriter.sample(1)
            try check(try await client.send(.post, "/v1/streams/s/classify", json: Client.imagesJSON([good, good, good, good])), .contentTooLarge, "too_large")
            try check(try await client.send(.post, "/v1/streams/s/classify", json: Client.imagesJSON([PNGWriter.sample(1, size: 101)])), .contentTooLarge, "too_large")
            try check(try await client.send(.post, "/v1/streams/s/classify", json: Client.imagesJSON([Data(count: 150_000)])), .contentTooLarge, "too_large")
            try check(try await client.send(.post, "/v1/streams/s/classify", body: good, contentType: "image/png"), .unsupportedMediaType, "unsupported_media_type")
            try check(try await client.send(.post, "/v1/streams/s/classify", json: "{\"images\":[\"%%%\"]}"), .badRequest, "bad_request")
            try check(try await client.send(.post, "/v1/streams/s/classify", json: "{\"images\":[]}"), .badRequest, "bad_request")
            try check(try await client.send(.post, "/v1/streams/s/classify?top=0", json: Client.imagesJSON([good])), .badRequest, "bad_request")
            try check(try await client.send(.post, "/v1/streams/s/classify?adapt=maybe", json: Client.imagesJSON([good])), .badRequest, "bad_request")
            try check(try await client.send(.post, "/v1/streams/s/checkpoints/none/restore"), .notFound, "not_found")
            #expect(try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"c\"}").status == .created)
            try check(try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"c\"}"), .conflict, "conflict")
            try check(try await client.send(.put, "/v1/streams/s/checkpoints/x", body: Data("junk".utf8), contentType: "application/octet-stream"), .unprocessableContent, "unprocessable")
        }
    }

    @Test("a bad image anywhere in a batch rejects the whole request and leaves the stream untouched", arguments: TestStore.available)
    func badImageInBatch(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            _ = try await client.createStream("s")
            var twin = try await TestData.twin()
            #expect(try await client.classify("s", TestData.batch(0)) == (try await TestData.expected(&twin, TestData.batch(0))))
            let truncated = PNGWriter.sample(9).prefix(60)
            for bad in [Data(truncated), Data("GIF89a".utf8), Data()] {
                let response = try await client.send(.post, "/v1/streams/s/classify", json: Client.imagesJSON([PNGWriter.sample(7), bad, PNGWriter.sample(8)]))
                #expect(response.status == .unprocessableContent)
                #expect(try Self.code(response) == "unprocessable")
                #expect(String(buffer: response.body).contains("image 1"))
            }
            #expect(try client.object(try await client.send(.get, "/v1/streams/s"))["samplesSeen"] as? Int == 1)
            #expect(try await client.classify("s", TestData.batch(1)) == (try await TestData.expected(&twin, TestData.batch(1))))
        }
    }

    @Test("a full backbone queue answers 429 at once instead of waiting")
    func queueFull() async throws {
        var server = TestServer {
            $0.maxQueuedImages = 2
            $0.maxBatchImages = 1
        }
        server.backend = PixelStatisticsBackend(dimension: 16, logitScale: 50, costPerImage: .milliseconds(100))
        try await server.run { client in
            _ = try await client.createStream("s")
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for r in 0..<8 {
                    group.addTask { try await client.send(.post, "/v1/classify", json: "{\"labels\":[\"a\",\"b\"],\"images\":[\"\(PNGWriter.sample(r).base64EncodedString())\"]}").status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.contains(.tooManyRequests))
            #expect(statuses.contains(.ok))
            #expect(statuses.allSatisfy { $0 == .ok || $0 == .tooManyRequests })
            let response = try await client.send(.post, "/v1/streams/s/classify", json: Client.imagesJSON(TestData.batch(0)))
            #expect(response.status == .ok, "the queue drains and serves again")
        }
    }
}
