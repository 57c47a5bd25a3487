import ArgumentParser
import CLIP
import RadaNumerics
import Foundation
import Hummingbird
import Logging
import Server

/// `rada serve`: the HTTP server. Every option can also come from the environment
/// (`RADA_HOST`, `RADA_PORT`, `RADA_MODEL`, `RADA_DATA_DIR`, `RADA_API_KEYS_FILE`, `RADA_API_KEYS`
/// as `client:key,client:key`, …); flags win over the environment.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve classification with per-stream online adaptation over HTTP.")

    @Option(help: "Address to bind (without API keys only loopback is allowed). [RADA_HOST, default 127.0.0.1]")
    var host: String?
    @Option(help: "Port. [RADA_PORT, default 8080]")
    var port: Int?
    @Option(help: "CLIP model directory (default: the embedded model). [RADA_MODEL]")
    var model: String?
    @Option(help: "Projection arithmetic of the towers: \(TowerPrecision.autoSummary), fp32, bf16 or fp16 (half the memory, about twice as fast where the CPU has the kernel; cosine ≥ 0.9999 to fp32). [RADA_PRECISION, default auto]")
    var precision: String?
    @Option(name: .customLong("data-dir"), help: "Directory for streams and checkpoints. [RADA_DATA_DIR, default ./rada-data]")
    var dataDir: String?
    @Option(help: "Stream store: postgres://user[:password]@host[:port]/database (shared by several servers, leases with fencing). Default: files in --data-dir. [RADA_STORE]")
    var store: String?
    @Option(name: .customLong("server-id"), help: "This server's name in the PostgreSQL store's leases. [RADA_SERVER_ID, default host-pid-random]")
    var serverID: String?
    @Option(name: .customLong("lease-seconds"), help: "PostgreSQL store: a stream's lease lapses this long after its owner's last write; then another server may take it over. [RADA_LEASE_SECONDS, default 10]")
    var leaseSeconds: Double?
    @Option(name: .customLong("api-keys"), help: "File of `client-name key` lines. [RADA_API_KEYS_FILE]")
    var apiKeys: String?
    @Option(help: "Backbone: clip or synthetic (pixel statistics, no model: for load tests). [RADA_BACKEND, default clip]")
    var backend: String?
    @Option(name: .customLong("synthetic-dimension"), help: "Embedding dimension of the synthetic backend. [RADA_SYNTHETIC_DIMENSION, default 512]")
    var syntheticDimension: Int?
    @Option(name: .customLong("max-batch"), help: "Most images per backbone call. [RADA_MAX_BATCH, default 32]")
    var maxBatch: Int?
    @Option(name: .customLong("max-wait-ms"), help: "Longest wait for a backbone batch to fill while the backbone is idle (requests arriving during a call batch anyway). [RADA_MAX_WAIT_MS, default 0]")
    var maxWaitMilliseconds: Int?
    @Option(name: .customLong("max-batch-ms"), help: "Longest backbone call while several clients share the backbone (image batches and text parts are sized to fit; 0: image batches unsliced). [RADA_MAX_BATCH_MS, default 2]")
    var maxBatchMilliseconds: Int?
    @Option(name: .customLong("max-batch-ms-alone"), help: "Longest backbone call while one client has the backbone to itself: how long a client arriving after a quiet spell can wait for the call under way (0: image batches unsliced). [RADA_MAX_BATCH_MS_ALONE, default 100]")
    var maxBatchMillisecondsAlone: Int?
    @Option(name: .customLong("max-queue"), help: "Queued images beyond which requests get 429. [RADA_MAX_QUEUE, default 512]")
    var maxQueue: Int?
    @Option(name: .customLong("memory-budget-mb"), help: "Memory for stream state before LRU eviction. [RADA_MEMORY_BUDGET_MB, default 4096]")
    var memoryBudgetMB: Int?
    @Option(name: .customLong("snapshot-every"), help: "Journal records between full snapshots. [RADA_SNAPSHOT_EVERY, default 64]")
    var snapshotEvery: Int?
    @Option(name: .customLong("body-memory-mb"), help: "Memory all request bodies may hold while read and handled; beyond it a request is refused before its body is read (503). [RADA_BODY_MEMORY_MB, default 1024]")
    var bodyMemoryMB: Int?
    @Option(name: .customLong("client-body-memory-mb"), help: "Share of the body memory one client (API key) may hold; beyond it 429. [RADA_CLIENT_BODY_MEMORY_MB, default 256]")
    var clientBodyMemoryMB: Int?
    @Option(name: .customLong("disk-reserve-mb"), help: "Free space of the data directory's disk that new streams and checkpoints may not take (kept for journals and snapshots; 507 storage_full). [RADA_DISK_RESERVE_MB, default 512]")
    var diskReserveMB: Int?
    @Option(name: .customLong("max-client-requests"), help: "Requests one API key may have in flight before 429. [RADA_MAX_CLIENT_REQUESTS, default 128]")
    var maxClientRequests: Int?
    @Option(name: .customLong("adaptation-threads"), help: "Threads that journal, predict and adapt streams (a long step holds one). [RADA_ADAPTATION_THREADS, default max(4, 2 × cores)]")
    var adaptationThreads: Int?
    @Option(name: .customLong("event-loop-threads"), help: "Network event-loop threads (HTTP parsing; not BLAS, see --blas-threads). [RADA_EVENT_LOOP_THREADS, default one per core]")
    var eventLoopThreads: Int?
    @Option(name: .customLong("blas-threads"), help: "Threads of the backbone's BLAS (tower passes; a step's heads use as many lanes). [RADA_BLAS_THREADS, default the CPU budget: one per core, or the cgroup's CPU quota (rada info)]")
    var blasThreads: Int?
    @Option(name: .customLong("max-images"), help: "Images per request. [RADA_MAX_IMAGES, default 64]")
    var maxImages: Int?
    @Option(name: .customLong("max-body-mb"), help: "Request body limit. [RADA_MAX_BODY_MB, default 32]")
    var maxBodyMB: Int?
    @Option(name: .customLong("max-checkpoint-mb"), help: "Checkpoint upload limit (uploads are also bounded by the stream's own largest checkpoint). [RADA_MAX_CHECKPOINT_MB, default 128]")
    var maxCheckpointMB: Int?
    @Option(name: .customLong("max-streams-per-client"), help: "Streams one client may have stored; one more is refused (409 quota_exceeded). [RADA_MAX_STREAMS_PER_CLIENT, default 1000]")
    var maxStreamsPerClient: Int?
    @Option(name: .customLong("max-checkpoints-per-stream"), help: "Checkpoints one stream may hold; one more is refused (409 quota_exceeded). [RADA_MAX_CHECKPOINTS_PER_STREAM, default 64]")
    var maxCheckpointsPerStream: Int?
    @Option(name: .customLong("max-client-storage-mb"), help: "Bytes one client's streams may take in the store (snapshots, journals, checkpoints); a creation or checkpoint past it is refused (409 quota_exceeded). [RADA_MAX_CLIENT_STORAGE_MB, default 65536]")
    var maxClientStorageMB: Int?
    @Option(name: .customLong("max-labels"), help: "Labels per stream. [RADA_MAX_LABELS, default 1000]")
    var maxLabels: Int?
    @Option(name: .customLong("max-pixels"), help: "Pixels per image. [RADA_MAX_PIXELS, default 16000000]")
    var maxPixels: Int?
    @Option(name: .customLong("max-request-pixels"), help: "Pixels of all a request's images together, checked from their headers. [RADA_MAX_REQUEST_PIXELS, default 64000000]")
    var maxRequestPixels: Int?
    @Option(name: .customLong("decode-memory-mb"), help: "Memory that image decoding and preprocessing may hold at once, server-wide; beyond it images wait, then get 503. [RADA_DECODE_MEMORY_MB, default 512]")
    var decodeMemoryMB: Int?
    @Option(name: .customLong("decode-workers"), help: "Images decoded at once (one kept for small images). [RADA_DECODE_WORKERS, default max(2, cores)]")
    var decodeWorkers: Int?
    @Option(name: .customLong("decode-queue"), help: "Images waiting to be decoded beyond which requests get 503 at once. [RADA_DECODE_QUEUE, default 256]")
    var decodeQueue: Int?
    @Option(name: .customLong("decode-wait-ms"), help: "Longest an image waits for decoding memory before its request gets 503. [RADA_DECODE_WAIT_MS, default 5000]")
    var decodeWaitMilliseconds: Int?
    @Option(name: .customLong("header-timeout"), help: "Seconds a client may take to send a request head; then 408. [RADA_HEADER_TIMEOUT, default 10]")
    var headerTimeout: Double?
    @Option(name: .customLong("body-timeout"), help: "Seconds a request body may pause between reads; then the connection closes. [RADA_BODY_TIMEOUT, default 30]")
    var bodyTimeout: Double?
    @Option(name: .customLong("idle-timeout"), help: "Seconds a kept-alive connection may idle between requests. [RADA_IDLE_TIMEOUT, default 60]")
    var idleTimeout: Double?
    @Option(name: .customLong("max-connections"), help: "Open connections at most; beyond, the longest-idle one is closed, else the slowest request body below --slow-body-rate (503 if all are busy). [RADA_MAX_CONNECTIONS, default 512]")
    var maxConnections: Int?
    @Option(name: .customLong("slow-body-rate"), help: "Bytes per second below which a request body's connection may be closed at the connection cap; 0: never. [RADA_SLOW_BODY_RATE, default 32768]")
    var slowBodyRate: Int?
    @Option(name: .customLong("max-request-line"), help: "Request-line bytes; longer gets 414. [RADA_MAX_REQUEST_LINE, default 8192]")
    var maxRequestLine: Int?
    @Option(name: .customLong("max-header-bytes"), help: "Header bytes; more gets 431. [RADA_MAX_HEADER_BYTES, default 32768]")
    var maxHeaderBytes: Int?
    @Flag(name: .customLong("print-openapi"), help: "Print the OpenAPI document and exit.")
    var printOpenAPI = false

    func run() async throws {
        if printOpenAPI {
            print(RadaServer.openAPIDocument, terminator: "")
            return
        }
        MallocArenas.cap()
        let environment = ProcessInfo.processInfo.environment
        func value<T: LosslessStringConvertible>(_ flag: T?, _ name: String) throws -> T? {
            if let flag { return flag }
            guard let text = environment[name] else { return nil }
            guard let parsed = T(text) else { throw ValidationError("\(name)=\(text) is not a valid value") }
            return parsed
        }
        func megabytes(_ mb: Int, _ flag: String) throws -> Int {
            guard (1...(1 << 30)).contains(mb) else { throw ValidationError("\(flag) must be in 1...\(1 << 30)") }
            return mb << 20
        }
        var configuration = ServerConfiguration(dataDirectory: URL(fileURLWithPath: try value(dataDir, "RADA_DATA_DIR") ?? "rada-data"))
        configuration.host = try value(host, "RADA_HOST") ?? configuration.host
        configuration.port = try value(port, "RADA_PORT") ?? configuration.port
        if let file = try value(apiKeys, "RADA_API_KEYS_FILE") {
            configuration.apiKeys = try APIKeys(contentsOf: URL(fileURLWithPath: file))
        } else if let keys = environment["RADA_API_KEYS"] {
            configuration.apiKeys = try APIKeys(environmentValue: keys)
        }
        configuration.maxBatchImages = try value(maxBatch, "RADA_MAX_BATCH") ?? configuration.maxBatchImages
        if let ms = try value(maxWaitMilliseconds, "RADA_MAX_WAIT_MS") { configuration.maxBatchWait = .milliseconds(ms) }
        if let ms = try value(maxBatchMilliseconds, "RADA_MAX_BATCH_MS") {
            guard ms >= 0 else { throw ValidationError("--max-batch-ms must be at least 0") }
            configuration.maxBatchTime = .milliseconds(ms)
        }
        if let ms = try value(maxBatchMillisecondsAlone, "RADA_MAX_BATCH_MS_ALONE") {
            guard ms >= 0 else { throw ValidationError("--max-batch-ms-alone must be at least 0") }
            configuration.maxBatchTimeAlone = .milliseconds(ms)
        }
        configuration.maxQueuedImages = try value(maxQueue, "RADA_MAX_QUEUE") ?? configuration.maxQueuedImages
        if let mb = try value(memoryBudgetMB, "RADA_MEMORY_BUDGET_MB") { configuration.memoryBudgetBytes = mb << 20 }
        configuration.snapshotEveryRecords = try value(snapshotEvery, "RADA_SNAPSHOT_EVERY") ?? configuration.snapshotEveryRecords
        guard (1...1_000_000).contains(configuration.snapshotEveryRecords) else { throw ValidationError("--snapshot-every must be in 1...1000000") }
        if let mb = try value(bodyMemoryMB, "RADA_BODY_MEMORY_MB") { configuration.bodyMemory.totalBytes = try megabytes(mb, "--body-memory-mb") }
        if let mb = try value(clientBodyMemoryMB, "RADA_CLIENT_BODY_MEMORY_MB") {
            configuration.bodyMemory.perClientBytes = try megabytes(mb, "--client-body-memory-mb")
        }
        if let mb = try value(diskReserveMB, "RADA_DISK_RESERVE_MB") {
            guard (0...(1 << 30)).contains(mb) else { throw ValidationError("--disk-reserve-mb must be in 0...\(1 << 30)") }
            configuration.diskReserveBytes = mb << 20
        }
        configuration.eventLoopThreads = try value(eventLoopThreads, "RADA_EVENT_LOOP_THREADS")
        if let count = try value(maxClientRequests, "RADA_MAX_CLIENT_REQUESTS") {
            guard count >= 1 else { throw ValidationError("--max-client-requests must be at least 1") }
            configuration.maxRequestsPerClient = count
        }
        if let count = try value(adaptationThreads, "RADA_ADAPTATION_THREADS") {
            guard (1...1024).contains(count) else { throw ValidationError("--adaptation-threads must be in 1...1024") }
            configuration.adaptationThreads = count
        }
        configuration.limits.maxImagesPerRequest = try value(maxImages, "RADA_MAX_IMAGES") ?? configuration.limits.maxImagesPerRequest
        if let mb = try value(maxBodyMB, "RADA_MAX_BODY_MB") { configuration.limits.maxBodyBytes = mb << 20 }
        if let mb = try value(maxCheckpointMB, "RADA_MAX_CHECKPOINT_MB") {
            guard (1...65536).contains(mb) else { throw ValidationError("--max-checkpoint-mb must be in 1...65536") }
            configuration.limits.maxCheckpointBytes = mb << 20
        }
        configuration.limits.maxLabelsPerStream = try value(maxLabels, "RADA_MAX_LABELS") ?? configuration.limits.maxLabelsPerStream
        for (flag, name, limit) in [(maxStreamsPerClient, "RADA_MAX_STREAMS_PER_CLIENT", \ServerLimits.maxStreamsPerClient),
                                    (maxCheckpointsPerStream, "RADA_MAX_CHECKPOINTS_PER_STREAM", \ServerLimits.maxCheckpointsPerStream)] {
            guard let count = try value(flag, name) else { continue }
            guard count > 0 else { throw ValidationError("\(name) must be positive") }
            configuration.limits[keyPath: limit] = count
        }
        if let mb = try value(maxClientStorageMB, "RADA_MAX_CLIENT_STORAGE_MB") {
            configuration.limits.maxClientStorageBytes = try megabytes(mb, "--max-client-storage-mb")
        }
        configuration.limits.maxPixelsPerImage = try value(maxPixels, "RADA_MAX_PIXELS") ?? configuration.limits.maxPixelsPerImage
        configuration.limits.maxPixelsPerRequest = try value(maxRequestPixels, "RADA_MAX_REQUEST_PIXELS") ?? configuration.limits.maxPixelsPerRequest
        if let mb = try value(decodeMemoryMB, "RADA_DECODE_MEMORY_MB") { configuration.decoding.memoryBytes = mb << 20 }
        configuration.decoding.workers = try value(decodeWorkers, "RADA_DECODE_WORKERS") ?? configuration.decoding.workers
        // A body the client's share or the server's budget could never hold would be refused forever.
        guard configuration.bodyMemory.perClientBytes >= configuration.limits.largestBodyBytes,
              configuration.bodyMemory.totalBytes >= configuration.bodyMemory.perClientBytes else {
            throw ValidationError(
                "--body-memory-mb (\(configuration.bodyMemory.totalBytes >> 20)) must be at least --client-body-memory-mb (\(configuration.bodyMemory.perClientBytes >> 20)), which must be at least the largest body a route takes (--max-body-mb, --max-checkpoint-mb: \(configuration.limits.largestBodyBytes >> 20))")
        }
        configuration.decoding.maxWaiting = try value(decodeQueue, "RADA_DECODE_QUEUE") ?? configuration.decoding.maxWaiting
        if let ms = try value(decodeWaitMilliseconds, "RADA_DECODE_WAIT_MS") { configuration.decoding.maxWait = .milliseconds(ms) }
        guard configuration.limits.maxPixelsPerImage > 0, configuration.limits.maxPixelsPerRequest > 0, configuration.decoding.memoryBytes > 0,
              configuration.decoding.workers > 0, configuration.decoding.maxWaiting >= 0, configuration.decoding.maxWait >= .zero else {
            throw ValidationError("pixel limits, --decode-memory-mb and --decode-workers must be positive; --decode-queue and --decode-wait-ms not negative")
        }

        func seconds(_ flag: Double?, _ name: String) throws -> Duration? {
            guard let value = try value(flag, name) else { return nil }
            guard value > 0, value <= 86_400 else { throw ValidationError("\(name) must be between 0 and 86400 seconds") }
            return .milliseconds(Int64(value * 1000))
        }
        func positive(_ flag: Int?, _ name: String) throws -> Int? {
            guard let value = try value(flag, name) else { return nil }
            guard value > 0 else { throw ValidationError("\(name) must be positive") }
            return value
        }
        configuration.connections.headerTimeout = try seconds(headerTimeout, "RADA_HEADER_TIMEOUT") ?? configuration.connections.headerTimeout
        configuration.connections.bodyTimeout = try seconds(bodyTimeout, "RADA_BODY_TIMEOUT") ?? configuration.connections.bodyTimeout
        configuration.connections.idleTimeout = try seconds(idleTimeout, "RADA_IDLE_TIMEOUT") ?? configuration.connections.idleTimeout
        configuration.connections.maxConnections = try positive(maxConnections, "RADA_MAX_CONNECTIONS") ?? configuration.connections.maxConnections
        if let rate = try value(slowBodyRate, "RADA_SLOW_BODY_RATE") {
            guard rate >= 0 else { throw ValidationError("RADA_SLOW_BODY_RATE must be 0 or more bytes per second") }
            configuration.connections.slowBodyBytesPerSecond = rate
        }
        configuration.connections.maxRequestLineBytes = try positive(maxRequestLine, "RADA_MAX_REQUEST_LINE") ?? configuration.connections.maxRequestLineBytes
        configuration.connections.maxHeaderBytes = try positive(maxHeaderBytes, "RADA_MAX_HEADER_BYTES") ?? configuration.connections.maxHeaderBytes

        if let count = try value(blasThreads, "RADA_BLAS_THREADS") {
            guard (1...256).contains(count) else { throw ValidationError("--blas-threads must be in 1...256") }
            try BLAS.load()
            BLAS.setThreads(count)
        }
        let backendName = try value(backend, "RADA_BACKEND") ?? "clip"
        let embedding: any EmbeddingBackend
        var precisionNote = ""
        switch backendName {
        case "synthetic":
            let dimension = try value(syntheticDimension, "RADA_SYNTHETIC_DIMENSION") ?? 512
            guard dimension >= 16, dimension % 8 == 0 else { throw ValidationError("--synthetic-dimension must be a multiple of 8, at least 16") }
            embedding = PixelStatisticsBackend(dimension: dimension, logitScale: 100)
        case "clip":
            try BLAS.load()
            let directory = try value(model, "RADA_MODEL").map { URL(fileURLWithPath: $0) } ?? ModelLocator.defaultModelDirectory()
            let choice = try TowerPrecision.resolve(flag: precision)
            precisionNote = ", towers in \(choice.precision) on \(CPUModel.name) (\(choice.reason))"
            if choice.precision == .float32 { precisionNote += ", fp32 on \(try FP32Kernel.resolve().kernel)" }
            let encoder = try CLIPEncoder.load(
                from: directory, maxBatch: configuration.maxBatchImages, precision: choice.precision)
            // Text parts get the same slice as image batches: both bound how long queued work waits.
            embedding = CLIPBackend(
                encoder: encoder, maxPartTime: configuration.maxBatchTime > .zero ? configuration.maxBatchTime : ServerConfiguration.backboneSlice)
        default:
            throw ValidationError("--backend must be clip or synthetic, not \(backendName)")
        }
        var logger = Logger(label: "rada.serve")
        logger.logLevel = environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        logger.info("serving on \(configuration.host):\(configuration.port), data in \(configuration.dataDirectory.path), backend \(backendName)\(precisionNote)")
        configuration.store = try StoreOption.open(
            try value(store, "RADA_STORE"), dataDirectory: configuration.dataDirectory, diskReserveBytes: configuration.diskReserveBytes, serverID: try value(serverID, "RADA_SERVER_ID"),
            leaseSeconds: try value(leaseSeconds, "RADA_LEASE_SECONDS"), logger: logger)
        logger.info("streams stored in \(configuration.store?.name ?? "")")
        let app = try RadaServer.makeApplication(configuration: configuration, backend: embedding, logger: logger)
        try await app.runService()
    }
}
