import CLIP
import RadaNumerics
import Imaging

/// Gathers the images of concurrent requests into backbone calls of at most `maxBatch` images,
/// waiting at most `maxWait` for a batch to fill, one call at a time. Requests that would push the
/// queue past `maxQueued` images are refused at once (429) instead of waiting without bound.
///
/// Batches are filled fairly across clients by start-time fair queueing, every image one unit
/// of cost (one tower pass each): a client's next image is tagged max(virtual time, the tag after
/// its last image), the smallest tag goes next (ties to the oldest request) and the
/// virtual time moves to the tag served. Clients with work queued take turns image by image, so a
/// request larger than what its client gets in one batch is split over several and a client
/// sending 64-image requests delays another client's 1-image request by the call under way, not
/// by everything it has queued. A client that had nothing queued starts at the virtual time, so
/// its first image goes in the next batch, ahead of a busy client's next one; yet it cannot
/// starve the busy client by arriving often: n clients with work each get 1/n of the images,
/// and a client's tag keeps what it used while others waited when it pauses.
///
/// A backbone call cannot be interrupted, so "one batch" is also bounded in time: while more
/// than one client has used the backbone within `sharingWindow`, a batch holds no more images
/// than the tower embeds in `maxBatchTime` (per-image cost measured on the batches run so far),
/// and never fewer than one. A lone client's batches are bounded by `maxBatchTimeAlone`, longer
/// for throughput, but still bounded: a client arriving after a quiet spell waits for the call
/// under way (a lone client's batch) before its image starts. Zero: unbounded (`maxBatch`).
actor EmbeddingBatcher {
    private final class Job {
        let images: [RGBImage]
        let continuation: CheckedContinuation<Matrix, any Error>
        /// Arrival order among all jobs: ties between equal tags go to the oldest job.
        let sequence: Int
        /// Images not yet put in a batch, and rows not yet embedded.
        var nextImage = 0
        var missingRows: Int
        var storage: [Float]
        var failed = false

        init(images: [RGBImage], dimension: Int, sequence: Int, continuation: CheckedContinuation<Matrix, any Error>) {
            self.images = images
            self.continuation = continuation
            self.sequence = sequence
            missingRows = images.count
            storage = [Float](repeating: 0, count: images.count * dimension)
        }
    }

    private let backend: any EmbeddingBackend
    private let maxBatch: Int
    private let maxWait: Duration
    private let maxQueued: Int
    private let sharingWindow: Duration
    private let metrics: ServerMetrics
    private let clock = ContinuousClock()
    /// Images per call while clients share: one before any call has been measured. Its cost per
    /// image sizes a lone client's calls too.
    private var slice: TimeSlice
    private let maxBatchTimeAlone: Duration
    /// When each client last queued images; clients older than `sharingWindow` are forgotten.
    private var lastSeen: [String: ContinuousClock.Instant] = [:]
    /// Each client's jobs in arrival order.
    private var queues: [String: [Job]] = [:]
    /// Fair queueing: the tag of the image served last, and each client's tag after its last
    /// image (kept while above the virtual time or while it has work).
    private var virtualTime = 0
    private var finish: [String: Int] = [:]
    private var arrivals = 0
    private var queuedImages = 0
    private var draining = false

    init(
        backend: any EmbeddingBackend, maxBatch: Int, maxWait: Duration, maxQueued: Int, maxBatchTime: Duration = .zero,
        maxBatchTimeAlone: Duration = .zero, sharingWindow: Duration = .seconds(1), metrics: ServerMetrics
    ) {
        self.backend = backend
        self.maxBatch = max(1, maxBatch)
        self.maxWait = maxWait
        self.maxQueued = max(1, maxQueued)
        slice = TimeSlice(length: maxBatchTime, firstUnits: 1, maxUnits: self.maxBatch)
        self.maxBatchTimeAlone = maxBatchTimeAlone
        self.sharingWindow = sharingWindow
        self.metrics = metrics
    }

    /// Images in the next batch: what fits in `maxBatchTime` while clients share, else in
    /// `maxBatchTimeAlone`; `maxBatch` where that slice is zero.
    func batchLimit() -> Int {
        let now = clock.now
        lastSeen = lastSeen.filter { now - $0.value < sharingWindow || queues[$0.key] != nil }
        let length = lastSeen.count > 1 ? slice.length : maxBatchTimeAlone
        return length > .zero ? slice.units(within: length) : maxBatch
    }

    /// Whether `client` has images queued that are not yet in a batch.
    func hasQueued(client: String) -> Bool { queues[client] != nil }

    /// B×D embeddings of `images` (model inputs: `ImagePipeline`'s output, so every queued image
    /// is `cropSize` x `cropSize` and the queue's memory is bounded by `maxQueued`), computed in
    /// batches shared with other requests, `client`'s share of each batch fair to the others.
    func embed(_ images: [RGBImage], client: String = "") async throws -> Matrix {
        guard !images.isEmpty else { return Matrix(rows: 0, cols: backend.embeddingDimension) }
        guard queuedImages + images.count <= maxQueued || queuedImages == 0 else {
            throw APIError.queueFull("the backbone queue holds \(queuedImages) images (limit \(maxQueued)); retry later")
        }
        let dimension = backend.embeddingDimension
        return try await withCheckedThrowingContinuation { continuation in
            arrivals += 1
            let job = Job(images: images, dimension: dimension, sequence: arrivals, continuation: continuation)
            lastSeen[client] = clock.now
            queues[client, default: []].append(job)
            queuedImages += images.count
            metrics.queueDepth.set(Double(queuedImages))
            if !draining {
                draining = true
                Task { await self.drain() }
            }
        }
    }

    /// The next batch: image by image, the client with the smallest start tag first.
    private func nextBatch() -> [(job: Job, image: Int)] {
        var batch: [(job: Job, image: Int)] = []
        let limit = batchLimit()
        func start(_ client: String) -> Int { max(virtualTime, finish[client] ?? 0) }
        // Every queue holds at least one job: an emptied one is removed.
        while batch.count < limit,
              let (client, queued) = queues.min(by: { (start($0.key), $0.value[0].sequence) < (start($1.key), $1.value[0].sequence) }) {
            var jobs = queued
            let job = jobs[0]
            virtualTime = start(client)
            finish[client] = virtualTime + 1
            batch.append((job, job.nextImage))
            job.nextImage += 1
            if job.nextImage == job.images.count { jobs.removeFirst() }
            queues[client] = jobs.isEmpty ? nil : jobs
        }
        // A tag at or below the virtual time would be raised to it anyway: forget it.
        finish = finish.filter { $0.value > virtualTime || queues[$0.key] != nil }
        return batch
    }

    private func drain() async {
        while queuedImages > 0 {
            if queuedImages < maxBatch && maxWait > .zero { try? await Task.sleep(for: maxWait) }
            let batch = nextBatch()
            guard !batch.isEmpty else { break }
            queuedImages -= batch.count
            metrics.queueDepth.set(Double(queuedImages))
            metrics.backboneBatchImages.record(Double(batch.count))
            do {
                let started = clock.now
                let embeddings = try await backend.embedPreprocessed(batch.map { $0.job.images[$0.image] })
                slice.record(clock.now - started, units: batch.count)
                let d = backend.embeddingDimension
                guard embeddings.rows == batch.count, embeddings.cols == d else {
                    throw APIError.internal("the backbone returned \(embeddings.rows)×\(embeddings.cols) embeddings for \(batch.count) images (D = \(d))")
                }
                for (row, (job, image)) in batch.enumerated() where !job.failed {
                    job.storage.replaceSubrange((image * d)..<((image + 1) * d), with: embeddings.storage[(row * d)..<((row + 1) * d)])
                    job.missingRows -= 1
                    if job.missingRows == 0 {
                        job.continuation.resume(returning: Matrix(rows: job.images.count, cols: d, storage: job.storage))
                    }
                }
            } catch {
                for (job, _) in batch where !job.failed {
                    job.failed = true
                    job.continuation.resume(throwing: error)
                }
                dropFailedJobs()
            }
        }
        draining = false
    }

    /// Removes the not-yet-batched images of failed jobs from the queues.
    private func dropFailedJobs() {
        for (client, jobs) in queues {
            let kept = jobs.filter { job in
                guard job.failed else { return true }
                queuedImages -= job.images.count - job.nextImage
                return false
            }
            queues[client] = kept.isEmpty ? nil : kept
        }
        metrics.queueDepth.set(Double(queuedImages))
    }
}
