import CLIP
import Foundation
import Imaging

/// Turns uploaded image files into the backbone's fixed-size inputs under the `DecodeBudget`,
/// off the backbone queue and off Swift's cooperative pool:
///  1. every file's header is read first (no pixels), so a request is refused as a whole,
///     before anything is decoded, when one image is unreadable, over the per-image limit or
///     too costly, or when together they exceed the per-request pixel limit;
///  2. then its images are decoded and preprocessed one after another, each holding its memory
///     bound from the server-wide `DecodeGate` while it runs on the image workers
///     (`WorkerPool`). One at a time per request: a 64-image request holds one image's memory,
///     not 64.
/// Work that grows with a request's size runs at a low CPU priority once the request is large
/// (`WorkerPool`'s nice): huge images, bulk requests (many images together over one large
/// image's cost) and the parsing of large bodies. On a busy machine a small request is then
/// scheduled ahead of a large one instead of beside it; on an idle one nothing changes.
/// What comes out is `cropSize` x `cropSize` per image whatever came in.
final class ImagePipeline: Sendable {
    let limits: ServerLimits
    let budget: DecodeBudget
    let preprocessor: ImagePreprocessor
    let gate: DecodeGate
    /// Run the C decoder and resampler, off the cooperative pool; their concurrency is bounded
    /// by the gate's workers. Large images run at a lower CPU priority (see `WorkerPool`).
    private let smallWorkers: WorkerPool
    private let largeWorkers: WorkerPool

    init(limits: ServerLimits, budget: DecodeBudget, preprocessor: ImagePreprocessor) {
        self.limits = limits
        self.budget = budget
        self.preprocessor = preprocessor
        gate = DecodeGate(budget: budget)
        smallWorkers = WorkerPool(name: "rada-images", maxThreads: budget.workers)
        largeWorkers = WorkerPool(name: "rada-images-large", maxThreads: budget.workers, nice: 19)
    }

    /// The costs of `files`, from their headers; throws `ImageBudgetError` for a request that
    /// must be refused whatever the server's load.
    func costs(_ files: [Data]) throws(ImageBudgetError) -> [ImageCost] {
        var costs: [ImageCost] = []
        costs.reserveCapacity(files.count)
        var pixels = 0
        for (index, file) in files.enumerated() {
            let cost: ImageCost
            do {
                let header = try ImageDecoder.probe(file, maxPixels: limits.maxPixelsPerImage)
                cost = ImageCost(header: header, plan: try preprocessor.plan(width: header.width, height: header.height))
            } catch { throw .image(index: index, error) }
            guard cost.bytes <= budget.memoryBytes else {
                throw .imageTooCostly(index: index, bytes: cost.bytes, limit: budget.memoryBytes)
            }
            // Each term is at most maxPixelsPerImage and there are at most maxImagesPerRequest.
            let (sum, overflow) = pixels.addingReportingOverflow(cost.header.pixels)
            pixels = overflow ? Int.max : sum
            costs.append(cost)
        }
        guard pixels <= limits.maxPixelsPerRequest else {
            throw .requestTooLarge(pixels: pixels, limit: limits.maxPixelsPerRequest)
        }
        return costs
    }

    /// The model inputs of `files`, in order. Throws `ImageBudgetError`.
    func prepare(_ files: [Data]) async throws -> [RGBImage] {
        let costs = try self.costs(files)
        // Each cost is at most budget.memoryBytes, and there are at most maxImagesPerRequest.
        let bulk = costs.reduce(0) { $0 + $1.bytes } > budget.smallImageBytes
        var images: [RGBImage] = []
        images.reserveCapacity(files.count)
        for (index, file) in files.enumerated() {
            let large = bulk || costs[index].bytes > budget.smallImageBytes
            let grant = try await gate.acquire(bytes: costs[index].bytes, large: large)
            let workers = large ? largeWorkers : smallWorkers
            let result = await decode(file, index: index, on: workers)
            await gate.release(grant)
            images.append(try result.get())
        }
        return images
    }

    /// `parse`'s result, computed inline for a body of at most `smallBodyBytes`, else on the
    /// low-priority workers.
    func parse<T: Sendable>(bodyBytes: Int, _ parse: @escaping @Sendable () throws -> T) async throws -> T {
        bodyBytes <= budget.smallBodyBytes ? try parse() : try await largeWorkers.run(parse)
    }

    private func decode(_ file: Data, index: Int, on workers: WorkerPool) async -> Result<RGBImage, ImageBudgetError> {
        let preprocessor = self.preprocessor, maxPixels = limits.maxPixelsPerImage
        return await workers.run {
            do throws(ImageError) {
                return .success(try Self.decode(file, preprocessor: preprocessor, maxPixels: maxPixels))
            } catch { return .failure(.image(index: index, error)) }
        }
    }

    /// One file decoded and prepared for the tower, as a request's images are (and as
    /// `RequestCost` measures them): the decoder's pixels go straight to the preprocessor.
    static func decode(_ file: Data, preprocessor: ImagePreprocessor, maxPixels: Int) throws(ImageError) -> RGBImage {
        try ImageDecoder.withPixels(of: file, maxPixels: maxPixels) { pixels, width, height throws(ImageError) in
            try preprocessor.prepare(pixels: pixels, width: width, height: height)
        }
    }
}
