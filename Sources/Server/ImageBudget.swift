import CLIP
import Foundation
import Imaging
import RadaNumerics

/// Every limit on what decoding client images may cost, in one place. An image is admitted in
/// three steps, all decided from file headers before any pixel memory exists:
///  1. per image: `maxPixelsPerImage` (width × height). Preprocessing never allocates the
///     resized image, only the model's crop (`ImagePreprocessor.plan`), so this one limit also
///     bounds every intermediate, whatever the aspect ratio;
///  2. per request: the images' pixels together within `maxPixelsPerRequest`;
///  3. server-wide: each image's decode reserves its memory bound (`ImageCost`) from
///     `DecodeGate` while it is decoded and preprocessed, so concurrent requests queue briefly
///     or get 503 instead of growing the process's memory.
public struct DecodeBudget: Sendable {
    /// Bytes that image decoding and preprocessing may hold at once, server-wide.
    public var memoryBytes = 512 << 20
    /// Images decoded at once (threads of the image workers). One of them is kept for small
    /// images so that a well-behaved client never waits behind a batch of huge ones. One per
    /// core of the CPU budget (a cgroup's quota included), at least two.
    public var workers = max(2, CPUBudget.current.cores)
    /// Images whose decode costs at most this many bytes are "small" (about 2.5 megapixels).
    /// A request whose images together cost more is "bulk" (64 thumbnails are): its images are
    /// decoded on the low-priority workers and counted as large, like one huge image.
    public var smallImageBytes = 8 << 20
    /// Request bodies over this many bytes are parsed (JSON, base64, multipart) on the
    /// low-priority workers instead of the threads that serve HTTP; smaller ones inline.
    public var smallBodyBytes = 2 << 20
    /// Images waiting for memory or a worker beyond which requests are refused at once (503).
    public var maxWaiting = 256
    /// Longest an image waits for memory or a worker before its request gets a 503.
    public var maxWait: Duration = .seconds(5)
    public init() {}
}

/// What one image will cost to turn into a model input, from its header alone.
struct ImageCost: Sendable {
    let header: ImageHeader
    let plan: ImagePreprocessor.Plan
    /// Peak bytes held while decoding and preprocessing: the decoder's bound (decoded pixels
    /// included, which stay alive while preprocessing reads them) plus preprocessing's own.
    let bytes: Int

    init(header: ImageHeader, plan: ImagePreprocessor.Plan) {
        self.header = header
        self.plan = plan
        let (sum, overflow) = header.decodeBytes.addingReportingOverflow(plan.workingBytes)
        bytes = overflow ? Int.max : sum
    }
}

/// Why images were refused by the budget; mapped to HTTP in `APIError.from`.
enum ImageBudgetError: Error, CustomStringConvertible, Sendable {
    /// Image `index` could not be read, or is over the per-image pixel limit.
    case image(index: Int, ImageError)
    /// The request's images together have more pixels than allowed.
    case requestTooLarge(pixels: Int, limit: Int)
    /// One image would need more memory than the whole server-wide decode budget.
    case imageTooCostly(index: Int, bytes: Int, limit: Int)
    /// The decode budget stayed full (or its queue was full) for the allowed wait.
    case busy(waited: Duration?)

    var description: String {
        switch self {
        case let .image(index, error):
            return "image \(index): \(error.description)"
        case let .requestTooLarge(pixels, limit):
            return "the request's images hold \(pixels) pixels together, over the per-request limit of \(limit); send fewer or smaller images"
        case let .imageTooCostly(index, bytes, limit):
            return "image \(index): decoding it needs about \(bytes >> 20) MiB, over the server's image-decoding budget of \(limit >> 20) MiB; send a smaller image"
        case let .busy(waited):
            let wait = waited.map { "waited \($0) for " } ?? "the queue is full waiting for "
            return "the server is decoding other images: \(wait)image-decoding memory; retry later"
        }
    }

    var apiError: APIError {
        switch self {
        case let .image(_, error):
            switch error {
            case .tooLarge: return .tooLarge(description)
            // The server's memory, not the image (its size passed the limits): retry later.
            case .outOfMemory: return .unavailable(description)
            default: return .unprocessable(description)
            }
        case .requestTooLarge, .imageTooCostly: return .tooLarge(description)
        case .busy: return .unavailable(description)
        }
    }
}
