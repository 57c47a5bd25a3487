/// Why a safetensors file could not be read or written. Every case names its source (a path, or
/// a description such as "checkpoint upload" for bytes that never were a file) and, where there
/// is one, the tensor. Messages carry sizes, never memory or host details.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    case unreadable(file: String, reason: String)
    case fileTooSmall(file: String, size: Int)
    case headerTooLarge(file: String, headerBytes: UInt64, limit: Int)
    case headerBeyondFile(file: String, headerBytes: UInt64, fileSize: Int)
    case invalidHeaderJSON(file: String, reason: String)
    case duplicateTensor(file: String, tensor: String)
    case invalidTensorEntry(file: String, tensor: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    case sizeMismatch(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    case offsetsOutOfBounds(file: String, tensor: String, end: Int, dataBytes: Int)
    case overlappingTensors(file: String, first: String, second: String)
    case missingTensor(file: String, tensor: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            "cannot read \(file): \(reason)"
        case .fileTooSmall(let file, let size):
            "\(file) is \(size) bytes: too small for a safetensors file (needs an 8-byte header length)"
        case .headerTooLarge(let file, let bytes, let limit):
            "\(file): header claims \(bytes) bytes, over the limit of \(limit) bytes"
        case .headerBeyondFile(let file, let bytes, let size):
            "\(file): header claims \(bytes) bytes but the file has only \(size) bytes (truncated?)"
        case .invalidHeaderJSON(let file, let reason):
            "\(file): header is not a valid safetensors JSON object: \(reason)"
        case .duplicateTensor(let file, let tensor):
            "\(file): tensor '\(tensor)' is listed more than once in the header"
        case .invalidTensorEntry(let file, let tensor, let reason):
            "\(file): tensor '\(tensor)' has an invalid header entry: \(reason)"
        case .unknownDType(let file, let tensor, let dtype):
            "\(file): tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case .sizeMismatch(let file, let tensor, let expected, let actual):
            "\(file): tensor '\(tensor)' needs \(expected) bytes for its dtype and shape but its offsets span \(actual) bytes"
        case .offsetsOutOfBounds(let file, let tensor, let end, let dataBytes):
            "\(file): tensor '\(tensor)' ends at byte \(end) of a \(dataBytes)-byte data section (truncated?)"
        case .overlappingTensors(let file, let first, let second):
            "\(file): tensors '\(first)' and '\(second)' overlap in the data section"
        case .missingTensor(let file, let tensor):
            "\(file): tensor '\(tensor)' is missing"
        case .unsupportedDType(let file, let tensor, let dtype):
            "\(file): tensor '\(tensor)' has dtype \(dtype); only F32, F16, BF16 and F64 can be read as numbers"
        case .shapeMismatch(let file, let tensor, let expected, let actual):
            "\(file): tensor '\(tensor)' has shape \(actual), expected \(expected)"
        case .writeFailed(let file, let reason):
            "cannot write \(file): \(reason)"
        }
    }
}
