import Adaptation
import CLIP
import RadaNumerics
import Synchronization
import Foundation
import Hummingbird
import Testing
@testable import Server
import Imaging

/// Issue #12: the answer does not wait for its own adaptation step, and a stream whose steps
/// take long delays neither other streams' requests nor the registry.
@Suite("Fair serving: answers before steps, slow streams isolated", .serialized)
struct FairnessTests {
    /// 500 optimiser steps per request, none skipped, over 16 classes and 8 images: a step of
    /// about 1.7 s in a debug build alone (6-12 s while the other suites run), long enough to
    /// tell from a request's own cost, short enough that requests queued behind three of them
    /// stay within the test client's read timeout (`TestClient.Configuration.suite`).
    static let slowSteps = 500
    static let slowPolicy = "{\"stepsPerBatch\":\(slowSteps),\"objective\":{\"confidenceThreshold\":null}}"
    static let slowLabels = (0..<16).map { "class\($0)" }
    static func slowBatch(_ r: Int) -> [Data] { (0..<8).map { PNGWriter.sample(100 * r + $0) } }

    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        let elapsed = (ContinuousClock.now - start).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    }

    @Test("a predict-then-adapt answer is sent before its step; the next request sees the step; results equal the twin")
    func answerBeforeStep() async throws {
        try await TestServer().run { client in
            #expect(try await client.createStream("slow", labels: Self.slowLabels, hyperparameters: Self.slowPolicy).status == .created)
            var reply: ClassifyReply?
            var answered = 0.0
            let total = try await Self.seconds {
                answered = try await Self.seconds { reply = try await client.classify("slow", Self.slowBatch(0)) }
                // In the stream's queue: runs once the step has finished.
                let info = try client.object(try await client.send(.get, "/v1/streams/slow"))
                #expect(info["optimizerSteps"] as? Int == Self.slowSteps)
            }
            let step = total - answered
            try #require(step > 0.3, "the step must be long enough to measure (\(step) s)")
            #expect(answered < 0.5 * step, "answered in \(answered) s; the step took \(step) s more")
            #expect(reply?.request == 1 && reply?.optimizerSteps == nil)
            var policy = RAdaHyperparameters()
            policy.stepsPerBatch = Self.slowSteps
            policy.objective.confidenceThreshold = nil
            var twin = try await TestData.twin(labels: Self.slowLabels, hyperparameters: policy)
            #expect(reply == (try await TestData.expected(&twin, Self.slowBatch(0))))
            #expect(try await client.classify("slow", Self.slowBatch(1)) == (try await TestData.expected(&twin, Self.slowBatch(1))))
        }
    }

    @Test("streams in the middle of long steps do not delay another stream's request")
    func slowStreamsDoNotDelayOthers() async throws {
        try await TestServer().run { client in
            for s in 0..<3 { #expect(try await client.createStream("slow\(s)", labels: Self.slowLabels, hyperparameters: Self.slowPolicy).status == .created) }
            _ = try await client.createStream("fast")
            let alone = try await Self.seconds { _ = try await client.classify("fast", TestData.batch(0)) }
            // Three long steps start (answers come back at once), each holding its stream.
            for s in 0..<3 { _ = try await client.classify("slow\(s)", Self.slowBatch(s)) }
            var slowest = 0.0, stepsWhenServed: [Double] = []
            let busy = try await Self.seconds {
                for r in 1...3 {
                    slowest = max(slowest, try await Self.seconds { _ = try await client.classify("fast", TestData.batch(r)) })
                    // Optimiser steps finished so far (a slow request adds its `slowSteps` when it ends).
                    stepsWhenServed.append(try await client.metric("rada_adaptation_steps_total") ?? .nan)
                }
                // Waiting in each slow stream's queue until its step is done.
                for s in 0..<3 { _ = try await client.send(.get, "/v1/streams/slow\(s)") }
            }
            // The fast requests were answered while slow steps were still running (however
            // loaded the machine is), and well before they all ended.
            #expect(stepsWhenServed.first.map { $0 < Double(3 * Self.slowSteps) } == true, "optimiser steps done when the first fast request was answered: \(stepsWhenServed)")
            #expect(slowest < 0.75 * busy, "a fast request took \(slowest) s while the slow steps ran \(busy) s (alone: \(alone) s)")
        }
    }

    @Test("a cold stream replaying a long journal delays only its own requests, not the registry")
    func coldLoadDoesNotBlockOthers() async throws {
        let first = TestServer { $0.snapshotEveryRecords = 1000 }
        let crashed = try await first.run { client -> URL in
            _ = try await client.createStream("slow", labels: Self.slowLabels, hyperparameters: Self.slowPolicy)
            _ = try await client.createStream("fast")
            for r in 0..<2 { _ = try await client.classify("slow", Self.slowBatch(r)) }
            _ = try await client.send(.get, "/v1/streams/slow")
            // Journal only (no shutdown snapshot): a restart must replay 2 × slowSteps steps.
            return try DurabilityTests.crashImage(of: first.dataDirectory)
        }
        try await TestServer(dataDirectory: crashed).run { client in
            _ = try await client.send(.get, "/v1/streams/fast")
            async let slow = Self.seconds {
                let info = try client.object(try await client.send(.get, "/v1/streams/slow"))
                #expect(info["optimizerSteps"] as? Int == 2 * Self.slowSteps)
            }
            try await Task.sleep(for: .milliseconds(50))
            var worst = 0.0
            for r in 0..<3 { worst = max(worst, try await Self.seconds { _ = try await client.classify("fast", TestData.batch(r)) }) }
            let load = try await slow
            try #require(load > 0.5, "the replay must take long enough to measure (\(load) s)")
            #expect(worst < 0.5 * load, "a request on a loaded stream took \(worst) s while another loaded for \(load) s")
        }
    }

    @Test("a client over its in-flight cap gets 429 with Retry-After; another client is served")
    func perClientCap() async throws {
        try await TestServer { $0.maxRequestsPerClient = 2 }.run { client in
            #expect(try await client.createStream("slow", labels: Self.slowLabels, hyperparameters: Self.slowPolicy).status == .created)
            #expect(try await client.createStream("b", key: "bob-key-4567").status == .created)
            // The first answers at once and holds the stream for its step; the next two wait
            // for their turn, so a fourth finds alice at her cap.
            _ = try await client.classify("slow", Self.slowBatch(0))
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for r in 1...2 {
                    group.addTask { try await client.send(.post, "/v1/streams/slow/classify", json: Client.imagesJSON(TestData.batch(r))).status }
                }
                // Both admitted (a fixed wait could end before a loaded server has read them).
                try await client.waitForMetric("rada_client_requests_in_flight_count") { $0 == 2 }
                let refused = try await client.send(.post, "/v1/streams/slow/classify", json: Client.imagesJSON(TestData.batch(3)))
                #expect(refused.status == .tooManyRequests && refused.headers[.retryAfter] == "1", "\(String(buffer: refused.body))")
                let bob = try await client.send(.post, "/v1/streams/b/classify", key: "bob-key-4567", json: Client.imagesJSON(TestData.batch(0)))
                #expect(bob.status == .ok, "another client is not capped by alice's requests")
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == [.ok, .ok])
            #expect(try await client.metric("rada_client_requests_in_flight_count") == 0, "every admitted request has left")
        }
    }

    @Test("answers a client does not read hold its own places until written: another client is served, and reading frees them")
    func unreadAnswersCount() async throws {
        var server = TestServer { $0.maxRequestsPerClient = 2 }
        // D = 512: a checkpoint larger than the two sockets' buffers, so an unread download
        // cannot finish.
        server.backend = PixelStatisticsBackend(dimension: 512, logitScale: 50)
        try await server.run { client in
            #expect(try await client.createStream("s").status == .created)
            let created = try client.object(try await client.send(.post, "/v1/streams/s/checkpoints", json: "{\"name\":\"c\"}"), .created)
            let bytes = try #require(created["bytes"] as? Int)
            try #require(bytes > 16 << 20, "a checkpoint of \(bytes) bytes could fit in the socket buffers")
            let port = try #require(client.client.port)
            var readers: [RawConnection] = []
            for _ in 0..<2 {
                let reader = try RawConnection(port: port)
                await reader.write("GET /v1/streams/s/checkpoints/c HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-key-123\r\n\r\n")
                readers.append(reader)
            }
            // Before, each left the count when its handler returned, before a byte was written.
            try await client.waitForMetric("rada_client_requests_in_flight_count", timeout: .seconds(20)) { $0 == 2 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await client.metric("rada_client_requests_in_flight_count") == 2, "still in flight while unread")
            let refused = try await client.send(.get, "/v1/streams/s")
            #expect(refused.status == .tooManyRequests && refused.errorCode == "queue_full", "\(String(buffer: refused.body))")
            #expect(try await client.send(.get, "/v1/streams", key: "bob-key-4567").status == .ok, "another client is served")
            for reader in readers {
                // The whole answer: the checkpoint and a head of a few hundred bytes.
                let read = await reader.readCount(bytes + 200, timeout: .seconds(30))
                #expect(read > bytes && read < bytes + 1000, "\(read) bytes read of a \(bytes)-byte checkpoint")
            }
            try await client.waitForMetric("rada_client_requests_in_flight_count", timeout: .seconds(20)) { $0 == 0 }
            #expect(try await client.send(.get, "/v1/streams/s").status == .ok)
        }
    }

    /// The test backend with a tower that costs `perImage` per image, as a real one does.
    struct CostlyBackend: EmbeddingBackend {
        var perImage: Duration
        var embeddingDimension: Int { TestServer.backend.embeddingDimension }
        var logitScale: Float { TestServer.backend.logitScale }
        var preprocessor: ImagePreprocessor { TestServer.backend.preprocessor }
        func embedPreprocessed(_ images: [RGBImage]) async throws -> Matrix {
            try await Task.sleep(for: perImage * images.count)
            return try await TestServer.backend.embedPreprocessed(images)
        }
        func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix {
            try await TestServer.backend.classEmbeddings(labels: labels, prompts: prompts, templates: templates)
        }
    }

    @Test("backbone batches are shared fairly across clients: 64-image requests do not queue a 1-image request behind them")
    func backboneRoundRobin() async throws {
        var server = TestServer { $0.maxBatchImages = 8 }
        server.backend = CostlyBackend(perImage: .milliseconds(10))
        try await server.run { client in
            _ = try await client.createStream("light")
            let heavyImages = (0..<48).map { PNGWriter.sample(500 + $0) }
            let bob = "bob-key-4567"
            var light = 0.0
            let heavy = try await Self.seconds {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            let reply = try await client.send(.post, "/v1/classify", key: bob, json: "{\"labels\":[\"a\",\"b\"],\"images\":[\(heavyImages.map { "\"\($0.base64EncodedString())\"" }.joined(separator: ","))]}")
                            #expect(reply.status == .ok, "\(String(buffer: reply.body))")
                        }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    light = try await Self.seconds { _ = try await client.classify("light", TestData.batch(0)) }
                    try await group.waitForAll()
                }
            }
            // 192 queued images are 24 batches (~2 s of tower); fair queueing serves the light
            // image in the next batch or the one after.
            try #require(heavy > 1.5, "the heavy requests must keep the backbone busy (\(heavy) s)")
            #expect(light < 0.4 * heavy, "the light request took \(light) s while the heavy ones took \(heavy) s")
        }
    }
}

/// The batcher's time slice: a backbone call cannot be interrupted, so while clients share the
/// backbone a batch is sized to take at most `maxBatchTime`, and a lone client's at most
/// `maxBatchTimeAlone`; a client with nothing queued goes first.
@Suite("Backbone batches: sized by time while clients share")
struct BatchSliceTests {
    /// `FairnessTests.CostlyBackend` that also records every call: when it started, its size,
    /// and whether it held the image `marked`.
    final class RecordingBackend: EmbeddingBackend {
        struct Call { let start: ContinuousClock.Instant; let size: Int; let marked: Bool }
        let inner = FairnessTests.CostlyBackend(perImage: .milliseconds(4))
        let calls = Mutex<[Call]>([])
        let marked: [UInt8]
        /// While true, calls start (and are recorded) but do not finish.
        let held = Mutex(false)
        init(marked: [UInt8] = []) { self.marked = marked }
        var sizes: [Int] { calls.withLock { $0.map(\.size) } }
        var embeddingDimension: Int { inner.embeddingDimension }
        var logitScale: Float { inner.logitScale }
        var preprocessor: ImagePreprocessor { inner.preprocessor }
        func embedPreprocessed(_ images: [RGBImage]) async throws -> Matrix {
            let call = Call(start: .now, size: images.count, marked: images.contains { $0.pixels == marked })
            calls.withLock { $0.append(call) }
            while held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
            return try await inner.embedPreprocessed(images)
        }
        func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix {
            try await inner.classEmbeddings(labels: labels, prompts: prompts, templates: templates)
        }
    }

    static func images(_ count: Int, seed: Int) -> [RGBImage] {
        let preprocessor = TestServer.backend.preprocessor
        return (0..<count).map { i in
            preprocessor.resizedAndCropped(RGBImage(width: 8, height: 8, pixels: (0..<192).map { UInt8(truncatingIfNeeded: $0 * 7 + i + seed) }))
        }
    }

    @Test("two clients: batches fit in 10 ms of 4 ms images; the light image goes in the next batch")
    func slicedWhileShared() async throws {
        let light = Self.images(1, seed: 200)
        let backend = RecordingBackend(marked: light[0].pixels)
        // A long sharing window: on a loaded machine the calls below may be far apart.
        let batcher = EmbeddingBatcher(
            backend: backend, maxBatch: 32, maxWait: .zero, maxQueued: 512, maxBatchTime: .milliseconds(10),
            sharingWindow: .seconds(600), metrics: ServerMetrics())
        // Teach the batcher the per-image cost on a first client's call.
        _ = try await batcher.embed(Self.images(2, seed: 0), client: "warm")
        async let heavy = batcher.embed(Self.images(48, seed: 1), client: "heavy")
        try await Task.sleep(for: .milliseconds(30))
        let submitted = ContinuousClock.now
        _ = try await batcher.embed(light, client: "light")
        #expect(try await heavy.rows == 48)
        let calls = backend.calls.withLock { $0 }
        // The test backend's sleep never undershoots, so the measured cost per image is at
        // least 4 ms: at most 2 images fit in 10 ms.
        #expect(calls.dropFirst().allSatisfy { $0.size <= 2 }, "batch sizes \(calls.map(\.size))")
        #expect(calls.dropFirst().reduce(0) { $0 + $1.size } == 49)
        // Fair queueing puts the light image in the first call formed after it is queued. The
        // clock is read before `embed` is called, and on a loaded machine the hop that queues
        // the image can come a call or two later; without fair sharing it would wait for all
        // of the heavy client's ~24 calls.
        let lightCall = try #require(calls.firstIndex { $0.marked })
        let startedBefore = calls[..<lightCall].filter { $0.start >= submitted }.count
        #expect(startedBefore <= 3, "\(startedBefore) calls started between the light image's arrival and its own call")
    }

    @Test("a client with nothing queued goes in the next batch, ahead of a busy client's next image")
    func newcomerFirst() async throws {
        let light = Self.images(1, seed: 200)
        let backend = RecordingBackend(marked: light[0].pixels)
        // Any measured cost exceeds a nanosecond's slice: one image per call once measured.
        let batcher = EmbeddingBatcher(
            backend: backend, maxBatch: 32, maxWait: .zero, maxQueued: 512, maxBatchTime: .nanoseconds(1),
            sharingWindow: .seconds(600), metrics: ServerMetrics())
        _ = try await batcher.embed(Self.images(1, seed: 0), client: "warm")
        backend.held.withLock { $0 = true }
        async let heavy = batcher.embed(Self.images(6, seed: 1), client: "heavy")
        while backend.calls.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(1)) }
        // The heavy client's first call is under way and its other five images are queued.
        async let lightRows = batcher.embed(light, client: "light")
        while await !batcher.hasQueued(client: "light") { try await Task.sleep(for: .milliseconds(1)) }
        backend.held.withLock { $0 = false }
        #expect(try await lightRows.rows == 1)
        #expect(try await heavy.rows == 6)
        let calls = backend.calls.withLock { $0 }
        #expect(calls.map(\.size) == [1, 1, 1, 1, 1, 1, 1, 1])
        // Before: the heavy client, served last, was ahead of the light one in the rotation.
        #expect(calls.firstIndex { $0.marked } == 2, "calls \(calls.map(\.marked))")
    }

    @Test("clients that keep arriving with nothing queued cannot starve a busy client")
    func noStarvation() async throws {
        let backend = RecordingBackend()
        let batcher = EmbeddingBatcher(
            backend: backend, maxBatch: 32, maxWait: .zero, maxQueued: 512, maxBatchTime: .nanoseconds(1),
            sharingWindow: .seconds(600), metrics: ServerMetrics())
        _ = try await batcher.embed(Self.images(1, seed: 0), client: "warm")
        async let heavy = batcher.embed(Self.images(80, seed: 1), client: "heavy")
        try await Task.sleep(for: .milliseconds(10))
        // Two clients sending 1-image requests back to back: each arrives with nothing queued
        // while the other's call runs.
        func requests(_ client: String, seed: Int) async throws {
            for i in 0..<12 { _ = try await batcher.embed(Self.images(1, seed: seed + i), client: client) }
        }
        let before = backend.calls.withLock { $0.count }
        async let a: Void = requests("a", seed: 300)
        async let b: Void = requests("b", seed: 400)
        try await a
        try await b
        let heavyCalls = backend.calls.withLock { $0.count } - before - 24
        #expect(try await heavy.rows == 80)
        // A fair share is a third of the calls while all three have work (about 12 of 36); the
        // newcomers alone would take nearly all of them.
        #expect(heavyCalls >= 6, "the busy client had \(heavyCalls) calls beside 24 of the others")
    }

    @Test("a lone client's batches fit in maxBatchTimeAlone")
    func loneClientSliced() async throws {
        let backend = RecordingBackend()
        let batcher = EmbeddingBatcher(
            backend: backend, maxBatch: 16, maxWait: .zero, maxQueued: 512, maxBatchTime: .milliseconds(2),
            maxBatchTimeAlone: .milliseconds(10), sharingWindow: .milliseconds(100), metrics: ServerMetrics())
        _ = try await batcher.embed(Self.images(48, seed: 1), client: "alone")
        let sizes = backend.sizes
        // One image before anything is measured, then at most what fits in 10 ms of 4 ms images.
        #expect(sizes.first == 1 && sizes.dropFirst().allSatisfy { $0 <= 2 }, "batch sizes \(sizes)")
        #expect(sizes.reduce(0, +) == 48)
    }

    @Test("with no slice for a lone client (maxBatchTimeAlone zero), it gets full batches")
    func loneClientUnsliced() async throws {
        let backend = RecordingBackend()
        let batcher = EmbeddingBatcher(
            backend: backend, maxBatch: 16, maxWait: .zero, maxQueued: 512, maxBatchTime: .milliseconds(10),
            sharingWindow: .milliseconds(100), metrics: ServerMetrics())
        _ = try await batcher.embed(Self.images(2, seed: 0), client: "other")
        try await Task.sleep(for: .milliseconds(150))  // "other" falls out of the sharing window
        _ = try await batcher.embed(Self.images(48, seed: 1), client: "alone")
        let sizes = backend.sizes
        #expect(Array(sizes.dropFirst()) == [16, 16, 16], "batch sizes \(sizes)")
    }
}
