import Foundation
import RadaNumerics
import StreamStore

/// Request limits; each one violated is answered with a 413 or 422 naming the limit.
public struct ServerLimits: Sendable {
    /// Largest request body accepted (bytes).
    public var maxBodyBytes = 32 * 1024 * 1024
    /// Largest checkpoint upload (bytes); an upload is also refused above the largest checkpoint
    /// its stream could produce (`StreamState.maximumCheckpointBytes`), before its body is read.
    public var maxCheckpointBytes = 128 * 1024 * 1024
    /// The largest body any route takes.
    public var largestBodyBytes: Int { max(maxBodyBytes, maxCheckpointBytes) }
    public var maxImagesPerRequest = 64
    /// Largest decoded image (width × height); checked from the header before decoding. It
    /// bounds every intermediate too: preprocessing computes only the model's crop.
    public var maxPixelsPerImage = 16_000_000
    /// Most pixels of all a request's images together; checked from the headers before any
    /// image is decoded (64 one-megapixel photos pass; 64 sixteen-megapixel ones do not).
    public var maxPixelsPerRequest = 64_000_000
    public var maxLabelsPerStream = 1000
    /// Streams one client may have stored; creating one more is refused (409 `quota_exceeded`).
    public var maxStreamsPerClient = 1000
    /// Checkpoints one stream may hold; saving or uploading one more is refused (409 `quota_exceeded`).
    public var maxCheckpointsPerStream = 64
    /// Bytes one client's streams may take in the store (metadata, snapshots, journals,
    /// checkpoints); a creation or checkpoint that would pass it is refused (409
    /// `quota_exceeded`). Steps are never refused for it: a stream's snapshot keeps its size and
    /// its journal is bounded (`ServerConfiguration.journalLimit`).
    public var maxClientStorageBytes = 64 << 30
    public var maxPromptsPerLabel = 64
    public var maxTop = 100
    public init() {}
}

/// Connection hygiene: how long a client may take and how many connections may be open. The
/// defaults are what the server ships with (`rada serve` flags and RADA_* variables override).
public struct ConnectionLimits: Sendable {
    /// Longest a client may take to send a whole request head (request line and headers),
    /// counted from accept for a new connection and from the first byte for the next request on
    /// a kept-alive one. Beyond it: 408 and close (slowloris).
    public var headerTimeout: Duration = .seconds(10)
    /// Longest a request body may pause between two reads; beyond it the connection closes.
    public var bodyTimeout: Duration = .seconds(30)
    /// Longest a kept-alive connection may sit idle between requests before it is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Most connections open at once. A new connection beyond it closes the connection that has
    /// been idle longest (no request being read or answered); with none idle, the one whose
    /// request body arrives slowest, if it is below `slowBodyBytesPerSecond`; when every one is
    /// busy otherwise, the new one is answered 503 and closed. Keep it well below the process's
    /// file-descriptor limit (`ulimit -n`), which also has to cover stream files.
    public var maxConnections = 512
    /// The floor on a request body's rate below which, at the connection cap, its connection
    /// may be closed to make room (0: never). The rate counts only the time the server was
    /// asking for the body's bytes (not while it held them back), less a grace of one second,
    /// so a body that waits on the server is never slow. Without it, bodies trickled just
    /// within `bodyTimeout` on every connection would lock every other client out.
    public var slowBodyBytesPerSecond = 32 * 1024
    /// Longest request line (method, target, version); beyond it: 414.
    public var maxRequestLineBytes = 8 * 1024
    /// Largest header block after the request line; beyond it: 431.
    public var maxHeaderBytes = 32 * 1024
    public init() {}
}

/// Everything `rada serve` can be told by flags or environment.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Where streams and checkpoints live (created when missing) with the local store.
    public var dataDirectory: URL
    /// Where streams persist; nil: the local directory store on `dataDirectory`.
    public var store: (any StreamStore)?
    /// nil: no authentication; the server then binds to loopback only.
    public var apiKeys: APIKeys?
    public var limits = ServerLimits()
    public var connections = ConnectionLimits()
    /// Most images embedded by one backbone call (requests are batched up to this).
    public var maxBatchImages = 32
    /// Longest a request waits for others to join its backbone batch. Zero by default: requests
    /// that arrive while a backbone call runs form the next batch anyway, and waiting on an idle
    /// backbone only adds latency (2 ms was most of the server's own overhead on a 1-image request).
    public var maxBatchWait: Duration = .zero
    /// Longest a backbone call may take while several clients are using the backbone: a call
    /// cannot be interrupted, so this is how long one client's batch can hold up another's
    /// image. Batches are sized from the measured per-image cost (at least one image). Zero:
    /// never sliced. Text parts get the same slice (`CLIPBackend.maxPartTime`).
    public var maxBatchTime: Duration = ServerConfiguration.backboneSlice
    /// Longest a backbone call may take while one client has the backbone to itself: what a
    /// client arriving after a quiet spell waits at most for the call under way. Longer than
    /// `maxBatchTime` for throughput; zero: `maxBatchImages` whatever they cost.
    public var maxBatchTimeAlone: Duration = ServerConfiguration.backboneSliceAlone

    /// The default backbone slice. 2 ms, not the 5 ms it was: beside a client encoding
    /// 64,000 prompts a 1-image request's p50 fell from 5.2–6.1 to 3.7–4.3 ms and its p99 from
    /// 10.6–12.9 to 8.7–10.0 ms (embedded model, server on one core, alternating levels), while
    /// the 64,000 prompts took the same 24–26 s (Docs/benchmarks.md).
    public static let backboneSlice: Duration = .milliseconds(2)
    /// 100 ms: the embedded model's full batch of 32 takes ~15 ms, so it keeps full batches; a
    /// ViT-B/32 image takes 60 ms on two AVX2 cores, so a lone client's call is one image there
    /// (as fast per image as eight, measured) and no longer 32 images for 2 s; on a CPU that
    /// embeds a B/32 image in 10–20 ms a lone call still holds 5–10 of them.
    public static let backboneSliceAlone: Duration = .milliseconds(100)
    /// Server-wide memory and workers for decoding and preprocessing images (see `DecodeBudget`).
    public var decoding = DecodeBudget()
    /// Images waiting for the backbone beyond which requests are refused with 429.
    public var maxQueuedImages = 512
    /// Bytes of stream state kept in memory; least recently used idle streams beyond it are
    /// written to disk and dropped (reloaded on their next request).
    public var memoryBudgetBytes = 4 << 30
    /// Journal records after which a stream's full state is snapshotted and its journal cleared.
    public var snapshotEveryRecords = 64
    /// A stream's journal records past its last stored snapshot, at most (`snapshotEveryRecords`
    /// times this): when periodic snapshots keep failing (a full disk), the stream tries one
    /// before its next request there and refuses the request if it fails, so a reload never
    /// replays more than this.
    public static let journalLimitFactor: UInt64 = 8
    static func journalLimit(snapshotEvery: Int) -> UInt64 { UInt64(max(1, snapshotEvery)) * journalLimitFactor }
    /// Memory request bodies may hold while they are read and handled (`BodyMemory`).
    public var bodyMemory = BodyMemoryLimits()
    /// Free bytes of the data directory's file system that new streams and checkpoints may not
    /// take (local store only): kept for journal records and snapshots.
    public var diskReserveBytes = 512 << 20
    /// Requests one client (API key) may have in flight; more are refused with 429 at once.
    /// Not applied without API keys (one local client has no one to be fair to).
    public var maxRequestsPerClient = 128
    /// Threads of the adaptation pool, where streams' journal writes, predictions and optimiser
    /// steps run (never on Swift's cooperative pool). More threads than cores, so that a stream
    /// whose step takes seconds holds one thread while other streams' requests get the others;
    /// the backbone has its own queue. Cores are the CPU budget (a cgroup's quota included).
    public var adaptationThreads = max(4, 2 * CPUBudget.current.cores)
    /// Requests whose optimiser steps are estimated above this many floating-point operations
    /// (`StreamState.stepFLOPs`) run on the heavy adaptation threads, at nice 10: a K = 1000 stream
    /// shares the CPU behind a K = 10 stream's requests instead of beside them. 200 MFLOP is a
    /// few milliseconds of step on the machines measured.
    public var heavyStepFLOPs: Double = 200e6
    /// Threads of the network event loops (nil: one per core, NIO's shared group).
    public var eventLoopThreads: Int?
    /// Attention heads of new streams' masks (must divide the embedding dimension).
    public var heads = 8

    public init(dataDirectory: URL) {
        self.dataDirectory = dataDirectory
    }

    static let loopbackHosts: Set<String> = ["127.0.0.1", "::1", "localhost"]

    /// The host actually bound: without API keys only loopback is allowed.
    var effectiveHost: String {
        apiKeys == nil && !Self.loopbackHosts.contains(host) ? "127.0.0.1" : host
    }
}
