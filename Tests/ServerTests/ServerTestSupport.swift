import Adaptation
import CLIP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import RadaNumerics
import Testing
@testable import Server
import Imaging

/// A live server (real socket) on a fresh or given data directory with the pixel-statistics backend.
struct TestServer {
    static let backend = PixelStatisticsBackend(dimension: 16, logitScale: 50)
    static let keys = try! APIKeys([("alice", "alice-key-123"), ("bob", "bob-key-4567")])

    var configuration: ServerConfiguration
    var backend: any EmbeddingBackend = TestServer.backend
    let metrics = ServerMetrics()

    init(dataDirectory: URL? = nil, keys: APIKeys? = TestServer.keys, _ adjust: (inout ServerConfiguration) -> Void = { _ in }) {
        let directory = dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("rada-server-tests-\(UUID().uuidString)")
        configuration = ServerConfiguration(dataDirectory: directory)
        configuration.port = 0
        configuration.apiKeys = keys
        configuration.maxBatchWait = .milliseconds(1)
        adjust(&configuration)
    }

    var dataDirectory: URL { configuration.dataDirectory }

    func run<T>(_ body: @Sendable (Client) async throws -> T) async throws -> T {
        var logger = Logger(label: "rada.test")
        logger.logLevel = .error
        let app = try RadaServer.makeApplication(configuration: configuration, backend: backend, metrics: metrics, logger: logger)
        return try await app.test(.live) { client in try await body(Client(client: client)) }
    }
}

/// A sample of a Prometheus exposition (the line `name value`), nil when it is absent.
func metricValue(_ name: String, in exposition: String) -> Double? {
    exposition.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
}

extension TestClient.Configuration {
    /// The test client's read timeout: it detects a hung server, it bounds no latency (tests that
    /// claim a latency measure it). HummingbirdTesting's 15 s default was shorter than a request
    /// waiting behind a long adaptation step may take in the full suite: FairnessTests' 500-step
    /// step takes 1.7 s alone and 6-12 s while the other suites share the two cores.
    static let suite = TestClient.Configuration(timeout: .seconds(90))
}

/// A response read over a real connection.
struct Reply: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer

    /// A field (`code`, `message`) of the JSON error body, nil when there is none.
    func errorField(_ name: String) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        return (object?["error"] as? [String: Any])?[name] as? String
    }

    var errorCode: String? { errorField("code") }
}

/// Test-side HTTP helpers. Each request opens its own connection, so that concurrent requests
/// really are concurrent at the server (one HTTP/1.1 connection would serialise them).
struct Client: Sendable {
    let client: any TestClientProtocol

    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String? = "alice-key-123", json: String? = nil,
        body: Data? = nil, contentType: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if json != nil { headers[.contentType] = "application/json" }
        if let contentType { headers[.contentType] = contentType }
        let buffer = json.map { ByteBuffer(string: $0) } ?? body.map { ByteBuffer(bytes: $0) }
        let fields = headers
        let port = try #require(client.port)
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .suite) { connection in
            try await connection.execute(TestClient.Request(uri, method: method, authority: "127.0.0.1", headers: fields, body: buffer))
        }
        return Reply(status: response.status, headers: response.head.headerFields, body: response.body ?? ByteBuffer())
    }

    /// Decoded JSON body of a response expected to have `status`.
    func object(_ response: Reply, _ status: HTTPResponse.Status = .ok, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(response.status == status, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
    }

    func createStream(_ id: String, labels: [String] = TestData.labels, hyperparameters: String? = nil, key: String = "alice-key-123") async throws -> Reply {
        let labelList = labels.map { "\"\($0)\"" }.joined(separator: ",")
        return try await send(.post, "/v1/streams", key: key, json: "{\"id\":\"\(id)\",\"labels\":[\(labelList)]\(hyperparameters.map { ",\"hyperparameters\":\($0)" } ?? "")}")
    }

    /// The stream's whole state as bytes: a probe checkpoint, created, downloaded and deleted
    /// (a checkpoint holds every bit of the state, so equal bytes mean an unchanged stream).
    func stateBytes(_ id: String, tag: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Data {
        let name = "probe-\(tag)"
        let created = try await send(.post, "/v1/streams/\(id)/checkpoints", json: "{\"name\":\"\(name)\"}")
        #expect(created.status == .created, "\(String(buffer: created.body))", sourceLocation: sourceLocation)
        let download = try await send(.get, "/v1/streams/\(id)/checkpoints/\(name)")
        #expect(download.status == .ok, sourceLocation: sourceLocation)
        #expect(try await send(.delete, "/v1/streams/\(id)/checkpoints/\(name)").status == .noContent, sourceLocation: sourceLocation)
        return Data(buffer: download.body)
    }

    /// A sample of the server's `/metrics`, nil when it is absent.
    func metric(_ name: String) async throws -> Double? {
        metricValue(name, in: String(buffer: try await send(.get, "/metrics", key: nil).body))
    }

    /// Polls `/metrics` until the sample `name` satisfies `condition` (it fails after `timeout`:
    /// what it waits for never happened).
    func waitForMetric(
        _ name: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation, _ condition: (Double) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let value = try await metric(name)
            if let value, condition(value) { return }
            try #require(ContinuousClock.now < deadline, "\(name) did not reach the awaited value in \(timeout) (last \(value.map { "\($0)" } ?? "absent"))", sourceLocation: sourceLocation)
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    static func imagesJSON(_ images: [Data]) -> String {
        "{\"images\":[\(images.map { "\"\($0.base64EncodedString())\"" }.joined(separator: ","))]}"
    }

    /// Classifies `images` (JSON body) and returns the decoded response.
    func classify(_ id: String, _ images: [Data], query: String = "", key: String = "alice-key-123") async throws -> ClassifyReply {
        let response = try await send(.post, "/v1/streams/\(id)/classify\(query)", key: key, json: Self.imagesJSON(images))
        #expect(response.status == .ok, "\(String(buffer: response.body))")
        return try JSONDecoder().decode(ClassifyReply.self, from: Data(buffer: response.body))
    }
}

struct ClassifyReply: Decodable, Equatable {
    struct Label: Decodable, Equatable {
        var label: String
        var probability: Float
    }
    struct Result: Decodable, Equatable {
        var top: [Label]
        var entropy: Float
    }
    var results: [Result]
    var request: Int?
    var optimizerSteps: Int?
}

enum TestData {
    static let labels = ["cat", "dog", "bird", "fish", "horse"]

    /// Request `r` of a stream: 1-3 images.
    static func batch(_ r: Int, stream: Int = 0) -> [Data] {
        (0..<(1 + r % 3)).map { PNGWriter.sample(stream * 1000 + r * 10 + $0) }
    }

    /// The stream the server should hold: same backend, same defaults, processed locally.
    static func twin(
        labels: [String] = labels, hyperparameters: RAdaHyperparameters = RAdaHyperparameters(), backend: PixelStatisticsBackend = TestServer.backend
    ) async throws -> StreamState {
        let text = try await backend.classEmbeddings(labels: labels, prompts: nil, templates: nil)
        return try StreamState(labels: labels, textEmbeddings: text, logitScale: backend.logitScale, heads: 8, hyperparameters: hyperparameters, seed: 0)
    }

    /// What the server must answer for `images` on a stream in state `twin` (which advances).
    static func expected(
        _ twin: inout StreamState, _ images: [Data], adapt: Bool = true, top: Int = 5, backend: PixelStatisticsBackend = TestServer.backend
    ) async throws -> ClassifyReply {
        let decoded = try images.map { try ImageDecoder.decode($0) }
        let features = try await backend.embedImages(decoded)
        let result = try twin.process(features, adapt: adapt)
        let response = StreamService.results(result.probabilities, labels: twin.labels, top: top)
        return ClassifyReply(
            results: response.results.map { .init(top: $0.top.map { .init(label: $0.label, probability: $0.probability) }, entropy: $0.entropy) },
            // Under predict-then-adapt the answer is sent before the steps run, so it cannot say.
            request: twin.counters.batchesSeen, optimizerSteps: twin.hyperparameters.policy == .predictThenAdapt && adapt ? nil : result.stepsTaken)
    }
}

/// The stream stores the API suites run on: such a test runs once per store, with the same
/// assertions. PostgreSQL needs the scratch server `make test` starts (RADA_TEST_POSTGRES_URL);
/// without it only the local store's cases exist, and `PostgresStoreTests` is reported skipped
/// with the reason.
enum TestStore: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case local
    case postgres

    var testDescription: String { rawValue }

    static let available: [TestStore] = ScratchPostgres.url == nil ? [.local] : allCases
}

extension TestServer {
    /// A server on a fresh store of `store`'s kind: a new data directory, or a schema of its own.
    static func on(_ store: TestStore, _ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        switch store {
        case .local: TestServer(adjust)
        case .postgres: try .postgres(try ScratchPostgres.isolatedURL(), adjust)
        }
    }
}
