import Foundation
import HTTPTypes
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime
import RadaAPIClient
import Testing
@testable import Server

/// A stream's life driven by the Swift client generated from Docs/openapi.yaml at build time
/// (swift-openapi-generator), over a real socket: if the document stops generating, or stops
/// describing the server's answers (the generated client decodes every body by the document),
/// this fails. `make client-check` does the same with a generated Python client.
@Suite("Generated client")
struct GeneratedClientTests {
    /// Sends the bearer key of the test server's client "alice".
    struct BearerKey: ClientMiddleware {
        let key: String

        func intercept(
            _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
            next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
        ) async throws -> (HTTPResponse, HTTPBody?) {
            var request = request
            request.headerFields[.authorization] = "Bearer \(key)"
            return try await next(request, body, baseURL)
        }
    }

    @Test("create, classify, read, checkpoint, reset, restore and delete through the generated client", arguments: TestStore.available)
    func streamLife(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            let port = try #require(client.client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let api = RadaAPIClient.Client(serverURL: url, transport: AsyncHTTPClientTransport(), middlewares: [BearerKey(key: "alice-key-123")])

            let created = try await api.createStream(body: .json(.init(value1: .init(id: "gen-1", labels: TestData.labels))))
            let stream = try created.created.body.json
            #expect(stream.id == "gen-1" && stream.labels == TestData.labels && stream.requests == 0)
            #expect(stream.hyperparameters.policy == .predictThenAdapt && stream.hyperparameters.stepsPerBatch == 1)

            let images = TestData.batch(1).map { Base64EncodedData(Array($0)) }
            let answer = try await api.classify(path: .init(id: "gen-1"), query: .init(top: 2), body: .json(.init(images: images))).ok.body.json
            #expect(answer.results.count == images.count && answer.results.allSatisfy { $0.top.count == 2 } && answer.request == 1)
            // predictThenAdapt: the steps run after the answer, which therefore cannot count them.
            #expect(answer.optimizerSteps == nil)

            let state = try await api.getStream(path: .init(id: "gen-1")).ok.body.json
            #expect(state.requests == 1 && state.samplesSeen == images.count)

            let checkpoint = try await api.createCheckpoint(path: .init(id: "gen-1"), body: .json(.init(name: "after-1"))).created.body.json
            #expect(checkpoint.name == "after-1" && checkpoint.bytes > 0)
            let listed = try await api.listCheckpoints(path: .init(id: "gen-1")).ok.body.json
            #expect(listed.checkpoints.map(\.name) == ["after-1"])

            let reset = try await api.resetStream(path: .init(id: "gen-1")).ok.body.json
            #expect(reset.requests == 0 && reset.samplesSeen == 0)
            let restored = try await api.restoreCheckpoint(path: .init(id: "gen-1", name: "after-1")).ok.body.json
            #expect(restored.requests == 1 && restored.samplesSeen == images.count)

            let stateless = try await api.classifyStateless(
                body: .json(.init(value2: .init(prompts: .init(additionalProperties: ["cat": ["a photo of a cat"], "dog": ["a photo of a dog"]]), images: images))))
            #expect(try stateless.ok.body.json.results.first?.top.map(\.label).sorted() == ["cat", "dog"])

            _ = try await api.deleteStream(path: .init(id: "gen-1")).noContent
            let gone = try await api.getStream(path: .init(id: "gen-1")).notFound.body.json
            #expect(gone.error.code == .not_found)
        }
    }
}
