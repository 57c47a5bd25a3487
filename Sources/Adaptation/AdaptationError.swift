/// Errors from the Adaptation module, each naming what is wrong and the limit it broke.
public enum AdaptationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// D is not a multiple of the number of heads.
    case headsDoNotDivideDimension(dimension: Int, heads: Int)
    case invalidShape(String)
    case invalidHyperparameter(String)
    /// A checkpoint could not be read or does not fit this stream; the stream is unchanged.
    case invalidCheckpoint(String)
    case checkpointMismatch(String)
    case io(String)

    public var description: String {
        switch self {
        case .headsDoNotDivideDimension(let d, let h):
            "embedding dimension \(d) is not divisible by \(h) heads; choose a head count that divides \(d)"
        case .invalidShape(let why): "invalid shape: \(why)"
        case .invalidHyperparameter(let why): "invalid hyper-parameter: \(why)"
        case .invalidCheckpoint(let why): "invalid checkpoint: \(why)"
        case .checkpointMismatch(let why): "checkpoint does not match this stream: \(why)"
        case .io(let why): "I/O error: \(why)"
        }
    }
}
