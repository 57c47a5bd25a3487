import Adaptation
import CLIP
import Foundation
import SafeTensors
import Logging
import RadaNumerics
import StreamStore
import Synchronization

/// The API's operations, independent of HTTP: every stream operation takes a ticket on arrival,
/// does its expensive preparation (decoding, backbone) concurrently, then applies its state change
/// alone and in arrival order.
final class StreamService: Sendable {
    let configuration: ServerConfiguration
    let backend: any EmbeddingBackend
    let metrics: ServerMetrics
    let registry: StreamRegistry
    let batcher: EmbeddingBatcher
    /// Where streams' journal writes, predictions and adaptation steps run (see `WorkerPool`);
    /// requests with costly steps run on the heavy pool, at a lower CPU priority.
    let adaptationPool: WorkerPool
    let heavyAdaptationPool: WorkerPool
    let images: ImagePipeline
    private let textCache = Mutex(ClassEmbeddingCache())
    /// A client's store writes under its quota, one at a time (`ClientTurns`).
    private let writeTurns = ClientTurns()

    init(configuration: ServerConfiguration, backend: any EmbeddingBackend, metrics: ServerMetrics, logger: Logger) {
        self.configuration = configuration
        self.backend = backend
        self.metrics = metrics
        let adaptationPool = WorkerPool(name: "rada-adapt", maxThreads: configuration.adaptationThreads)
        self.adaptationPool = adaptationPool
        heavyAdaptationPool = WorkerPool(name: "rada-adapt-heavy", maxThreads: configuration.adaptationThreads, nice: 10)
        registry = StreamRegistry(
            store: configuration.store ?? LocalStreamStore(root: configuration.dataDirectory, reserveBytes: configuration.diskReserveBytes), memoryBudget: configuration.memoryBudgetBytes, metrics: metrics,
            logger: logger, loader: adaptationPool,
            // Snapshot writes are durable state, not latency: below requests' priority, and a
            // second thread so that one slow store write does not hold every stream's back.
            snapshotWriter: WorkerPool(name: "rada-snapshots", maxThreads: 2, nice: 10))
        batcher = EmbeddingBatcher(
            backend: backend, maxBatch: configuration.maxBatchImages, maxWait: configuration.maxBatchWait,
            maxQueued: configuration.maxQueuedImages, maxBatchTime: configuration.maxBatchTime,
            maxBatchTimeAlone: configuration.maxBatchTimeAlone, metrics: metrics)
        images = ImagePipeline(limits: configuration.limits, budget: configuration.decoding, preprocessor: backend.preprocessor)
    }

    var limits: ServerLimits { configuration.limits }

    // MARK: Sequencing

    /// Runs `apply` on the stream alone, in arrival order. (`classify` takes its ticket itself:
    /// it prepares its images before its turn and finishes it only after its step.)
    private func inTurn<T>(client: String, id: String, _ apply: (LiveStream) async throws -> T) async throws -> T {
        let (stream, ticket) = try await registry.ticket(client: client, id: id)
        await stream.waitTurn(ticket)
        let result: Result<T, any Error>
        do { result = .success(try await apply(stream)) } catch { result = .failure(error) }
        stream.finish(ticket)
        await registry.enforceBudget()
        return try result.get()
    }

    // MARK: Streams

    func createStream(client: String, request: CreateStreamRequest) async throws -> StreamInfo {
        let id = request.id ?? UUID().uuidString.lowercased()
        try Identifier.require(id, "stream id")
        let labels = try validatedLabels(labels: request.labels, prompts: request.prompts, templates: request.templates)
        let hyperparameters = try RAdaHyperparameters.resolving(request.hyperparameters)
        guard try await !registry.exists(client: client, id: id) else { throw APIError.conflict("stream \"\(id)\" already exists") }
        // Before the text is embedded (seconds for a large class set); `registry.create` checks again.
        let stored = try await registry.streamCount(client: client)
        guard stored < limits.maxStreamsPerClient else { throw Self.streamQuotaError(limit: limits.maxStreamsPerClient, stored: stored) }
        let text = try await classEmbeddings(labels: labels, prompts: request.prompts, templates: request.templates)
        let state: StreamState
        do {
            state = try StreamState(
                labels: labels, textEmbeddings: text, logitScale: backend.logitScale, heads: configuration.heads,
                hyperparameters: hyperparameters, seed: request.seed ?? 0)
        } catch { throw APIError.unprocessable("cannot create the stream: \(error)") }
        let metadata = StreamMetadata(
            id: id, client: client, labels: labels, prompts: request.prompts, templates: request.templates,
            createdAt: Date(), seed: request.seed ?? 0)
        let stream = try await writeTurns.run(client) { [registry, limits] in
            try await registry.create(
                metadata: metadata, state: state, streamLimit: limits.maxStreamsPerClient, byteLimit: limits.maxClientStorageBytes)
        }
        await registry.enforceBudget()
        return try await onPool { try self.info(stream, state) }
    }

    /// Streams whose metadata a listing holds at once.
    static let listPage = 4

    func listStreams(client: String) async throws -> StreamList {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        // A few metadata at a time: each may be as large as a request body (labels, prompts).
        var items: [StreamList.Item] = []
        var after: String?
        while true {
            let page = try await registry.storedStreams(client: client, after: after, limit: Self.listPage)
            for stored in page {
                guard let metadata = try? decoder.decode(StreamMetadata.Summary.self, from: stored.metadata) else { continue }
                items.append(StreamList.Item(id: stored.id, labels: metadata.labels.count, createdAt: metadata.createdAt))
            }
            guard page.count == Self.listPage, let last = page.last?.id else { break }
            after = last
        }
        return StreamList(streams: items)
    }

    func streamInfo(client: String, id: String) async throws -> StreamInfo {
        try await inTurn(client: client, id: id) { stream in
            try await onPool {
                // The copy may be stale if another server took the stream over while this one
                // was paused; a fenced check marks it lost (503, reloaded on the next request).
                try stream.write { try $0.verifyOwnership() }
                return try stream.read { try self.info(stream, $0) }
            }
        }
    }

    /// Runs work that touches the stream store on the adaptation pool: a store call may block on
    /// a file or a database, which must never hold one of the few cooperative threads.
    private func onPool<T: Sendable>(_ job: @escaping @Sendable () throws -> T) async throws -> T {
        try await adaptationPool.run(job)
    }

    func deleteStream(client: String, id: String) async throws {
        // A stream that cannot be loaded is removed without going through its queue.
        if try await registry.deleteIfUnloadable(client: client, id: id) { return }
        try await inTurn(client: client, id: id) { stream in try await registry.delete(stream) }
    }

    func resetStream(client: String, id: String) async throws -> StreamInfo {
        let info = try await inTurn(client: client, id: id) { stream in
            try await onPool {
                try stream.replaceState(marking: .reset) { $0.reset() }
                return try stream.read { try self.info(stream, $0) }
            }
        }
        metrics.resets.increment()
        return info
    }

    /// The stream's history entries after `since`, oldest first, at most `limit`.
    func history(client: String, id: String, since: Int, limit: Int) async throws -> HistoryResponse {
        guard since >= 0 else { throw APIError.badRequest("since must be at least 0, got \(since)") }
        guard (1...Self.maxHistoryLimit).contains(limit) else { throw APIError.badRequest("limit must be in 1...\(Self.maxHistoryLimit), got \(limit)") }
        return try await inTurn(client: client, id: id) { stream in
            try await onPool {
                try stream.write { try $0.verifyOwnership() }
                return try stream.readHistory { state, history in
                    let entries = history.entries(since: since, limit: limit)
                    return HistoryResponse(
                        id: stream.metadata.id, labels: state.labels, budgetBytes: history.budgetBytes, usedBytes: history.usedBytes,
                        latest: history.nextSeq - 1, more: entries.last.map { $0.seq < history.entries.last!.seq } ?? false, entries: Array(entries))
                }
            }
        }
    }

    /// The most entries one history request returns (the default).
    static let maxHistoryLimit = 1000
    /// How far a stream may grow past what the memory budget last saw before a classify request
    /// makes the registry look again (`LiveStream.grewBeyondBudgeted`).
    static let budgetSlackBytes = 4096

    private func info(_ stream: LiveStream, _ state: StreamState) throws -> StreamInfo {
        StreamInfo(
            id: stream.metadata.id, labels: state.labels, templates: stream.metadata.templates, prompts: stream.metadata.prompts,
            hyperparameters: state.hyperparameters, createdAt: stream.metadata.createdAt, requests: state.counters.batchesSeen,
            samplesSeen: state.counters.samplesSeen, optimizerSteps: state.counters.optimizerSteps,
            skippedSteps: state.counters.skippedSteps, automaticResets: state.counters.automaticResets,
            runningEntropy: state.running.entropy, memoryBytes: stream.memoryBytes, checkpoints: try stream.handle.checkpoints().map(\.name),
            centring: CentringStatus(state), gaussians: GaussianStatus(state), domainMemory: DomainMemoryStatus(state))
    }

    // MARK: Classification

    /// Classifies on the stream in its turn. The request is journaled, predicted and answered on
    /// the adaptation pool; under predict-then-adapt its optimiser steps run after the answer
    /// while the stream's turn is still held, so the next request on the stream sees them (order
    /// and results exactly as if the answer had waited).
    func classify(client: String, id: String, files: [Data], adapt: Bool, top: Int, idempotencyKey: String? = nil) async throws -> ClassifyResponse {
        try checkTop(top)
        let (stream, ticket) = try await registry.ticket(client: client, id: id)
        let features: Matrix
        do { features = try await batcher.embed(images.prepare(files), client: client) } catch {
            await stream.waitTurn(ticket)
            stream.finish(ticket)
            throw error
        }
        await stream.waitTurn(ticket)
        let prediction = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LiveStream.Prediction, any Error>) in
            let costly = adapt && stream.stepFLOPs(images: features.rows) > configuration.heavyStepFLOPs
            (costly ? heavyAdaptationPool : adaptationPool).submit { [self] in
                // Resumed exactly once: with the prediction, or with the error that came before it.
                nonisolated(unsafe) var answered = false
                do {
                    let (result, _) = try stream.process(
                        features, adapt: adapt, idempotencyKey: idempotencyKey, snapshotEvery: configuration.snapshotEveryRecords
                    ) { prediction in
                        answered = true
                        continuation.resume(returning: prediction)
                    }
                    metrics.adaptationSteps.increment(by: Int64(result?.stepsTaken ?? 0))
                } catch {
                    if !answered { continuation.resume(throwing: error) }
                }
                let grew = stream.grewBeyondBudgeted(slack: Self.budgetSlackBytes)  // in the turn: before `finish`
                stream.finish(ticket)
                if grew || registry.overBudget.load(ordering: .relaxed) { Task { await registry.enforceBudget() } }
            }
        }
        var response = Self.results(prediction.probabilities, labels: prediction.labels, top: top)
        response.request = prediction.request
        response.optimizerSteps = prediction.stepsTaken
        metrics.imagesClassified.increment(by: Int64(files.count))
        return response
    }

    func classifyStateless(_ request: StatelessClassifyRequest, top: Int, client: String) async throws -> ClassifyResponse {
        try checkTop(top)
        try ImageInput.checkCount(request.images.count, limits)
        let labels = try validatedLabels(labels: request.labels, prompts: request.prompts, templates: request.templates)
        let files = try ImageInput.base64(request.images)
        let prepared = try await images.prepare(files)
        async let features = batcher.embed(prepared, client: client)
        let text = try await classEmbeddings(labels: labels, prompts: request.prompts, templates: request.templates)
        var logits = try await features.matmul(text, transposeOther: true)
        let (rows, cols) = (logits.rows, logits.cols)
        logits.storage.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: rows, cols: cols, scale: backend.logitScale) }
        metrics.imagesClassified.increment(by: Int64(prepared.count))
        return Self.results(logits, labels: labels, top: top)
    }

    private func checkTop(_ top: Int) throws {
        guard (1...limits.maxTop).contains(top) else { throw APIError.badRequest("top must be in 1...\(limits.maxTop), got \(top)") }
    }

    /// Top-k labels and entropy per row of a probability matrix.
    static func results(_ probabilities: Matrix, labels: [String], top: Int) -> ClassifyResponse {
        let results = (0..<probabilities.rows).map { row -> ClassifyResponse.Result in
            let p = probabilities.row(row)
            return .init(top: Kernels.topK(p, top).map { .init(label: labels[$0], probability: p[$0]) }, entropy: Kernels.entropy(probabilities: p))
        }
        return ClassifyResponse(results: results)
    }

    /// The class list from `labels`, or the sorted keys of `prompts`; checked against the limits.
    /// Every rule here is stated in Docs/openapi.yaml (`CreateStream`), so that a request the
    /// document allows is one the server takes. Lengths and the `{}` search work on Unicode
    /// scalars, as JSON Schema does: Swift's `Character` view would see "{}" followed by an emoji
    /// modifier as no "{}" at all.
    private func validatedLabels(labels: [String]?, prompts: [String: [String]]?, templates: [String]?) throws -> [String] {
        guard let labels = labels ?? prompts.map({ $0.keys.sorted() }) else { throw APIError.badRequest("give \"labels\" or \"prompts\"") }
        guard !labels.isEmpty else { throw APIError.unprocessable("at least one label is needed") }
        guard labels.count <= limits.maxLabelsPerStream else {
            throw APIError.tooLarge("\(labels.count) labels; the limit is \(limits.maxLabelsPerStream)")
        }
        guard Set(labels).count == labels.count else { throw APIError.unprocessable("labels must be distinct") }
        func isLabel(_ text: String) -> Bool { (1...Self.maxLabelScalars).contains(text.unicodeScalars.count) }
        guard labels.allSatisfy(isLabel) else { throw APIError.unprocessable("each label must have 1-\(Self.maxLabelScalars) characters") }
        if let templates {
            guard !templates.isEmpty, templates.count <= limits.maxPromptsPerLabel,
                  templates.allSatisfy({ $0.utf8.firstRange(of: "{}".utf8) != nil && $0.unicodeScalars.count <= Self.maxPromptScalars }) else {
                throw APIError.unprocessable("templates must be 1-\(limits.maxPromptsPerLabel) strings of at most \(Self.maxPromptScalars) characters, each containing \"{}\"")
            }
        }
        if let prompts {
            guard !prompts.isEmpty else { throw APIError.unprocessable("\"prompts\" must name at least one label") }
            guard prompts.count <= limits.maxLabelsPerStream else {
                throw APIError.tooLarge("prompts for \(prompts.count) labels; the limit is \(limits.maxLabelsPerStream)")
            }
            // A label missing here is described by the templates (the model's own by default).
            for (label, list) in prompts.sorted(by: { $0.key < $1.key }) {
                guard isLabel(label) else { throw APIError.unprocessable("each prompts key must have 1-\(Self.maxLabelScalars) characters") }
                guard !list.isEmpty else { throw APIError.unprocessable("no prompts for label \"\(label.prefix(80))\"") }
                guard list.count <= limits.maxPromptsPerLabel else {
                    throw APIError.tooLarge("label \"\(label.prefix(80))\" has \(list.count) prompts; the limit is \(limits.maxPromptsPerLabel)")
                }
                guard list.allSatisfy({ $0.unicodeScalars.count <= Self.maxPromptScalars }) else {
                    throw APIError.unprocessable("each prompt must have at most \(Self.maxPromptScalars) characters")
                }
            }
        }
        return labels
    }

    static let maxLabelScalars = 200
    /// Prompts and templates: far beyond the text tower's 77 tokens, short enough that the
    /// tokenizer's work on one is bounded.
    static let maxPromptScalars = 1000

    private func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix {
        let key = String(decoding: try JSONEncoder().encode([JSONValue.array(labels.map(JSONValue.string)),
            .object((prompts ?? [:]).mapValues { .array($0.map(JSONValue.string)) }), .array((templates ?? []).map(JSONValue.string))]), as: UTF8.self)
        if let cached = textCache.withLock({ $0.embeddings(for: key) }) { return cached }
        let text = try await backend.classEmbeddings(labels: labels, prompts: prompts, templates: templates)
        textCache.withLock { $0.store(text, for: key) }
        return text
    }

    // MARK: Checkpoints

    func createCheckpoint(client: String, id: String, name: String) async throws -> CheckpointInfo {
        try Identifier.require(name, "checkpoint name")
        return try await inTurn(client: client, id: id) { stream in
            try await writeTurns.run(client) { try await self.onPool {
                try self.requireCheckpointRoom(stream)
                let data = try stream.read { try $0.checkpointData() }
                try self.save(stream, name: name, data: data)
                // The checkpoint is stored and is what this request answers for: a mark that
                // cannot be snapshotted now is left out of the history rather than failing it.
                try? stream.replaceState(marking: .checkpoint, checkpoint: name) { _ in }
                return CheckpointInfo(name: name, bytes: data.count, createdAt: Date())
            } }
        }
    }

    static func streamQuotaError(limit: Int, stored: Int) -> APIError {
        .quotaExceeded("this client has \(stored) streams, at the server's limit of \(limit); delete one to make room")
    }

    /// 409 `quota_exceeded` when the stream holds its limit of checkpoints, 409 `conflict` when
    /// `newName` is taken (the caller holds its turn). From the listing: reading the checkpoint
    /// to see whether it exists read up to 128 MiB.
    private func requireCheckpointRoom(_ stream: LiveStream, newName: String? = nil) throws {
        let stored = try stream.write { try $0.checkpoints() }
        let count = stored.count
        if let newName, stored.contains(where: { $0.name == newName }) { throw APIError.conflict("checkpoint \"\(newName)\" already exists") }
        guard count < limits.maxCheckpointsPerStream else {
            throw APIError.quotaExceeded(
                "this stream holds \(count) checkpoints, at the server's limit of \(limits.maxCheckpointsPerStream); delete one to make room")
        }
    }

    /// Stores a checkpoint within the client's stored bytes; 409 when the name is taken.
    private func save(_ stream: LiveStream, name: String, data: Data) throws {
        do { try stream.write { try $0.saveCheckpoint(named: name, data: data, byteLimit: limits.maxClientStorageBytes) } } catch StreamStoreError.exists {
            throw APIError.conflict("checkpoint \"\(name)\" already exists")
        }
    }

    func listCheckpoints(client: String, id: String) async throws -> CheckpointList {
        try await inTurn(client: client, id: id) { stream in
            try await onPool {
                CheckpointList(checkpoints: try stream.handle.checkpoints().map { CheckpointInfo(name: $0.name, bytes: $0.bytes, createdAt: $0.createdAt) })
            }
        }
    }

    /// A checkpoint for download, read a part at a time (`readPart`): what a download holds in
    /// memory is one part, however slowly its client reads.
    func checkpointDownload(client: String, id: String, name: String) async throws -> any CheckpointReader {
        try Identifier.require(name, "checkpoint name")
        return try await inTurn(client: client, id: id) { stream in
            guard let reader = try await onPool({ try stream.handle.checkpointReader(named: name) }) else {
                throw APIError.notFound("no checkpoint \"\(name)\" on stream \"\(id)\"")
            }
            return reader
        }
    }

    /// One part of a download, read off the event loops.
    func readPart(_ reader: any CheckpointReader, offset: Int, count: Int) async throws -> Data {
        try await onPool { try reader.read(offset: offset, count: count) }
    }

    /// Replaces the stream's adaptation with a checkpoint's (409 when its class set differs).
    /// Read and applied in one turn: they used to be two, and a deletion, an upload of the name or
    /// a reset queued between them ran first (a deleted checkpoint was restored after its 204).
    func restoreCheckpoint(client: String, id: String, name: String) async throws -> StreamInfo {
        try Identifier.require(name, "checkpoint name")
        return try await inTurn(client: client, id: id) { stream in
            try await onPool {
                guard let data = try stream.handle.checkpoint(named: name) else {
                    throw APIError.notFound("no checkpoint \"\(name)\" on stream \"\(id)\"")
                }
                do { try stream.replaceState(marking: .restore, checkpoint: name) { try $0.restore(from: data) } } catch { throw Self.checkpointError(error) }
                return try stream.read { try self.info(stream, $0) }
            }
        }
    }

    /// The most bytes an upload of checkpoint `name` to the stream may have: checked before the
    /// body is read (name, owner and stream first), the smaller of `--max-checkpoint-mb` and the
    /// largest checkpoint this stream could produce.
    func checkpointUploadLimit(client: String, id: String, name: String) async throws -> Int {
        try Identifier.require(name, "checkpoint name")
        let stream = try await registry.stream(client: client, id: id)
        // Before the body, too (a taken name or a full stream must not cost the upload's bytes):
        // `uploadCheckpoint` checks again in the stream's turn.
        try await onPool { try self.requireCheckpointRoom(stream, newName: name) }
        return min(limits.maxCheckpointBytes, try stream.read { $0.maximumCheckpointBytes })
    }

    /// Stores an uploaded checkpoint under `name` after checking it fits the stream.
    func uploadCheckpoint(client: String, id: String, name: String, data: Data) async throws -> CheckpointInfo {
        try Identifier.require(name, "checkpoint name")
        return try await inTurn(client: client, id: id) { stream in
            try await writeTurns.run(client) { try await self.onPool {
                try self.requireCheckpointRoom(stream, newName: name)
                var trial = try stream.read { $0 }
                do { try trial.restore(from: data, refusingUnknownFields: true) } catch { throw Self.checkpointError(error) }
                try self.save(stream, name: name, data: data)
                return CheckpointInfo(name: name, bytes: data.count, createdAt: Date())
            } }
        }
    }

    /// 409 for a checkpoint of another class set or shape, 422 for one that cannot be read.
    private static func checkpointError(_ error: any Error) -> APIError {
        if let error = error as? APIError { return error }
        if let error = error as? StreamStoreError { return APIError.from(error) }
        if case .checkpointMismatch? = error as? AdaptationError { return .conflict("checkpoint does not fit this stream: \(error)") }
        return .unprocessable("not a usable stream checkpoint: \(error)")
    }

    func deleteCheckpoint(client: String, id: String, name: String) async throws {
        try Identifier.require(name, "checkpoint name")
        try await inTurn(client: client, id: id) { stream in
            guard try await onPool({ try stream.write { try $0.deleteCheckpoint(named: name) } }) else {
                throw APIError.notFound("no checkpoint \"\(name)\" on stream \"\(id)\"")
            }
        }
    }
}
