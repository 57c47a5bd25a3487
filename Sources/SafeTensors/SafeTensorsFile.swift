import Foundation
import RadaNumerics

/// A safetensors file (memory-mapped from disk, or bytes already in memory such as a client's
/// upload), validated before any tensor is read. The one reader of the format: model weights and
/// stream checkpoints both go through it.
///
/// Validation covers everything a hostile or truncated file could use to make reads go wrong:
/// the header length (limit and file size), the JSON, each tensor's dtype, shape and byte span,
/// bounds within the data section, overlaps and duplicate names.
public struct SafeTensorsFile: Sendable {
    /// Default limit on the JSON header (the format's reference implementation uses 100 MB).
    public static let defaultMaxHeaderBytes = 100_000_000

    /// The file's path, used in error messages.
    public let path: String
    /// Tensor names in data-section order.
    public let names: [String]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]

    private let bytes: Data
    private let dataStart: Int
    private let tensors: [String: TensorInfo]

    /// Maps and validates `url`; throws a `SafeTensorsError` naming the file (and tensor).
    public init(url: URL, maxHeaderBytes: Int = SafeTensorsFile.defaultMaxHeaderBytes) throws {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw SafeTensorsError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        try self.init(data: bytes, source: url.path, maxHeaderBytes: maxHeaderBytes)
    }

    /// Validates `data` as a whole safetensors file; `source` names it in errors.
    public init(data bytes: Data, source: String, maxHeaderBytes: Int = SafeTensorsFile.defaultMaxHeaderBytes) throws {
        // A slice keeps its parent's indices; every offset below is relative to byte 0.
        let bytes = bytes.startIndex == 0 ? bytes : Data(bytes)
        let header = try SafeTensorsHeader(bytes: bytes, path: source, maxHeaderBytes: maxHeaderBytes)
        self.path = source
        self.bytes = bytes
        self.dataStart = header.dataStart
        self.tensors = Dictionary(uniqueKeysWithValues: header.tensors.map { ($0.name, $0) })
        self.names = header.tensors.map(\.name)
        self.metadata = header.metadata
    }

    /// The header entry for `name`, or nil when there is none.
    public func info(_ name: String) -> TensorInfo? { tensors[name] }

    /// All values of `name` as Float32 (converted from F16, BF16 or F64 when needed).
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else { throw SafeTensorsError.missingTensor(file: path, tensor: name) }
        let count = info.elementCount
        let start = dataStart + info.byteRange.lowerBound
        return try bytes.withUnsafeBytes { raw -> [Float] in
            let source = UnsafeRawBufferPointer(rebasing: raw[start..<(start + info.byteRange.count)])
            switch info.dtype {
            case .f32:
                return [Float](unsafeUninitializedCapacity: count) { out, initialised in
                    UnsafeMutableRawBufferPointer(out).copyMemory(from: source)
                    initialised = count
                }
            case .f16, .bf16:
                // Copy first: the data section need not be 2-byte aligned.
                var halves = [UInt16](repeating: 0, count: count)
                halves.withUnsafeMutableBytes { $0.copyMemory(from: source) }
                return [Float](unsafeUninitializedCapacity: count) { out, initialised in
                    if info.dtype == .f16 {
                        Kernels.halfToFloat(halves, out.baseAddress!, count: count)
                    } else {
                        Kernels.bfloat16ToFloat(halves, out.baseAddress!, count: count)
                    }
                    initialised = count
                }
            case .f64:
                var doubles = [Double](repeating: 0, count: count)
                doubles.withUnsafeMutableBytes { $0.copyMemory(from: source) }
                return doubles.map { Float($0) }
            default:
                throw SafeTensorsError.unsupportedDType(file: path, tensor: name, dtype: info.dtype.rawValue)
            }
        }
    }

    /// All values of `name` as Float64 (F64 as stored, F32 widened).
    public func doubles(_ name: String) throws -> [Double] {
        guard let info = tensors[name] else { throw SafeTensorsError.missingTensor(file: path, tensor: name) }
        let start = dataStart + info.byteRange.lowerBound
        return try bytes.withUnsafeBytes { raw -> [Double] in
            let source = UnsafeRawBufferPointer(rebasing: raw[start..<(start + info.byteRange.count)])
            switch info.dtype {
            case .f64:
                var doubles = [Double](repeating: 0, count: info.elementCount)
                doubles.withUnsafeMutableBytes { $0.copyMemory(from: source) }
                return doubles
            case .f32:
                var floats = [Float](repeating: 0, count: info.elementCount)
                floats.withUnsafeMutableBytes { $0.copyMemory(from: source) }
                return floats.map(Double.init)
            default:
                throw SafeTensorsError.unsupportedDType(file: path, tensor: name, dtype: info.dtype.rawValue)
            }
        }
    }

    /// The values of `name` as Float64, which must have exactly `shape`.
    public func doubles(_ name: String, shape: [Int]) throws -> [Double] {
        try requireShape(name, shape)
        return try doubles(name)
    }

    /// The raw little-endian bytes of `name` (for copying a tensor unchanged).
    public func rawBytes(_ name: String) throws -> Data {
        guard let info = tensors[name] else { throw SafeTensorsError.missingTensor(file: path, tensor: name) }
        return bytes.subdata(in: (dataStart + info.byteRange.lowerBound)..<(dataStart + info.byteRange.upperBound))
    }

    private func requireShape(_ name: String, _ shape: [Int]) throws {
        guard let info = tensors[name] else { throw SafeTensorsError.missingTensor(file: path, tensor: name) }
        guard info.shape == shape else {
            throw SafeTensorsError.shapeMismatch(file: path, tensor: name, expected: shape, actual: info.shape)
        }
    }

    /// The values of `name`, which must have exactly `shape`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        try requireShape(name, shape)
        return try floats(name)
    }

    /// `name` as a rows×cols matrix; its shape must be exactly `[rows, cols]`.
    public func matrix(_ name: String, rows: Int, cols: Int) throws -> Matrix {
        Matrix(rows: rows, cols: cols, storage: try floats(name, shape: [rows, cols]))
    }
}
