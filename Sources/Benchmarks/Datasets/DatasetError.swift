/// Why a benchmark dataset could not be read; every message names the file and what to do.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The Debian package that provides a dataset is not installed.
    case missingPackage(path: String, package: String)
    case unreadable(path: String, reason: String)
    case gzip(path: String, reason: String)
    /// An IDX file whose header or size is wrong.
    case invalidIDX(path: String, reason: String)
    /// Images and labels that do not belong together.
    case mismatch(String)
    /// An image-folder dataset with a layout problem (no classes, no images...).
    case invalidFolder(path: String, reason: String)
    case undecodableImage(path: String, reason: String)
    /// A dataset or split name the benchmarks do not know.
    case unknown(String)

    public var description: String {
        switch self {
        case .missingPackage(let path, let package):
            return "\(path) not found: install the dataset with `apt-get install \(package)` (or `make deps`)"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .gzip(let path, let reason): return "\(path): \(reason)"
        case .invalidIDX(let path, let reason): return "\(path) is not a valid IDX file: \(reason)"
        case .mismatch(let reason): return reason
        case .invalidFolder(let path, let reason): return "image folder \(path): \(reason)"
        case .undecodableImage(let path, let reason): return "cannot decode image \(path): \(reason)"
        case .unknown(let what): return "unknown \(what)"
        }
    }
}
