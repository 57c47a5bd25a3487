import CLIP
import RadaNumerics

/// Gathers the images of concurrent requests into backbone calls of at most `maxBatch` images,
/// waiting at most `maxWait` for a batch to fill, one call at a time. Requests that would push the
/// queue past `maxQueued` images are refused at once (429) instead of waiting without bound.
actor EmbeddingBatcher {
    private struct Job {
        var images: [RGBImage]
        var continuation: CheckedContinuation<Matrix, any Error>
    }

    private let backend: any EmbeddingBackend
    private let maxBatch: Int
    private let maxWait: Duration
    private let maxQueued: Int
    private let metrics: ServerMetrics
    private var jobs: [Job] = []
    private var queuedImages = 0
    private var draining = false

    init(backend: any EmbeddingBackend, maxBatch: Int, maxWait: Duration, maxQueued: Int, metrics: ServerMetrics) {
        self.backend = backend
        self.maxBatch = max(1, maxBatch)
        self.maxWait = maxWait
        self.maxQueued = max(1, maxQueued)
        self.metrics = metrics
    }

    /// B×D embeddings of `images` (model inputs: `ImagePipeline`'s output, so every queued image
    /// is `cropSize` x `cropSize` and the queue's memory is bounded by `maxQueued`), computed in
    /// some batch with other requests' images.
    func embed(_ images: [RGBImage]) async throws -> Matrix {
        guard queuedImages + images.count <= maxQueued || queuedImages == 0 else {
            throw APIError.queueFull("the backbone queue holds \(queuedImages) images (limit \(maxQueued)); retry later")
        }
        return try await withCheckedThrowingContinuation { continuation in
            jobs.append(Job(images: images, continuation: continuation))
            queuedImages += images.count
            metrics.queueDepth.set(Double(queuedImages))
            if !draining {
                draining = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !jobs.isEmpty {
            if queuedImages < maxBatch && maxWait > .zero { try? await Task.sleep(for: maxWait) }
            var batch: [Job] = []
            var count = 0
            while let job = jobs.first, batch.isEmpty || count + job.images.count <= maxBatch {
                batch.append(jobs.removeFirst())
                count += job.images.count
            }
            queuedImages -= count
            metrics.queueDepth.set(Double(queuedImages))
            metrics.backboneBatchImages.record(Double(count))
            do {
                let embeddings = try await backend.embedPreprocessed(batch.flatMap(\.images))
                guard embeddings.rows == count, embeddings.cols == backend.embeddingDimension else {
                    throw APIError.internal("the backbone returned \(embeddings.rows)×\(embeddings.cols) embeddings for \(count) images (D = \(backend.embeddingDimension))")
                }
                var row = 0
                for job in batch {
                    let n = job.images.count
                    let slice = Array(embeddings.storage[(row * embeddings.cols)..<((row + n) * embeddings.cols)])
                    job.continuation.resume(returning: Matrix(rows: n, cols: embeddings.cols, storage: slice))
                    row += n
                }
            } catch {
                for job in batch { job.continuation.resume(throwing: error) }
            }
        }
        draining = false
    }
}
