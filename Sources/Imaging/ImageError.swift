/// Why an image could not be decoded.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The data has no bytes at all.
    case empty
    /// The data starts with neither the PNG nor the JPEG signature.
    case unsupportedFormat
    /// The header declares more pixels than allowed; nothing was allocated for them.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// The PNG or JPEG decoder rejected the data (truncated, bad checksum, invalid stream...).
    case corrupt(String)
    /// Memory for the decoded pixels could not be allocated.
    case outOfMemory(width: Int, height: Int)
    /// The model's preprocessing cannot take an image of this shape (a preprocessor without
    /// centre crop needs images that resize exactly to the model's input).
    case unsupportedShape(width: Int, height: Int, reason: String)

    public var description: String {
        switch self {
        case .empty:
            return "the image is empty (0 bytes)"
        case .unsupportedFormat:
            return "unsupported image format: only PNG and JPEG are accepted"
        case let .tooLarge(width, height, limit):
            return "the image is \(width)x\(height) = \(width * height) pixels, "
                + "over the limit of \(limit) pixels; send a smaller image"
        case let .corrupt(message):
            return "the image could not be decoded: \(message)"
        case let .outOfMemory(width, height):
            return "out of memory decoding a \(width)x\(height) image"
        case let .unsupportedShape(width, height, reason):
            return "a \(width)x\(height) image cannot be preprocessed for this model: \(reason)"
        }
    }
}
