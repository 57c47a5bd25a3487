import Foundation

/// A minimal safetensors reader and writer (8-byte little-endian header length, a JSON header,
/// then raw little-endian tensor data), enough for stream checkpoints and test fixtures. Reading
/// validates every field and names the offending tensor in its error.
struct SafeTensors: Sendable {
    struct Tensor: Sendable {
        var dtype: String
        var shape: [Int]
        var bytes: Data
    }

    /// The largest header accepted (a header is a few kB; a huge value means a corrupt file).
    static let maximumHeaderBytes = 64 << 20

    var tensors: [String: Tensor] = [:]
    var metadata: [String: String] = [:]

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": 8
        case "F32", "I32", "U32": 4
        case "F16", "BF16", "I16", "U16": 2
        case "U8", "I8", "BOOL": 1
        default: nil
        }
    }

    init() {}

    /// Parses and validates a whole file.
    init(parsing data: Data) throws {
        func fail(_ why: String) -> AdaptationError { .invalidCheckpoint(why) }
        guard data.count >= 8 else { throw fail("file has \(data.count) bytes, fewer than the 8-byte header length") }
        let start = data.startIndex
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[start + i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(Self.maximumHeaderBytes) else {
            throw fail("header length \(headerLength) exceeds the \(Self.maximumHeaderBytes)-byte limit")
        }
        guard 8 + Int(headerLength) <= data.count else {
            throw fail("header length \(headerLength) runs past the end of the \(data.count)-byte file (truncated?)")
        }
        let headerData = data.subdata(in: (start + 8)..<(start + 8 + Int(headerLength)))
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let header = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let body = data.subdata(in: (start + 8 + Int(headerLength))..<data.endIndex)
        var ranges: [(Int, Int, String)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (key, entry) in meta {
                    guard let string = entry as? String else { throw fail("__metadata__[\(key)] is not a string") }
                    metadata[key] = string
                }
                continue
            }
            guard let entry = value as? [String: Any] else { throw fail("entry for tensor \(name) is not an object") }
            guard let dtype = entry["dtype"] as? String, let size = Self.elementSize(dtype) else {
                throw fail("tensor \(name) has a missing or unknown dtype")
            }
            guard let shapeValues = entry["shape"] as? [Any], let offsetValues = entry["data_offsets"] as? [Any], offsetValues.count == 2 else {
                throw fail("tensor \(name) lacks a shape or a pair of data_offsets")
            }
            let shape = try shapeValues.map { v -> Int in
                guard let n = Self.integer(v), n >= 0, n <= Int(Int32.max) else { throw fail("tensor \(name) has an invalid dimension \(v)") }
                return n
            }
            guard let begin = Self.integer(offsetValues[0]), let end = Self.integer(offsetValues[1]), begin >= 0, begin <= end, end <= body.count else {
                throw fail("tensor \(name) has data_offsets \(offsetValues) outside the \(body.count)-byte data section")
            }
            var elements = 1
            for n in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow else { throw fail("tensor \(name) shape \(shape) overflows") }
                elements = product
            }
            guard elements.multipliedReportingOverflow(by: size).partialValue == end - begin, !elements.multipliedReportingOverflow(by: size).overflow else {
                throw fail("tensor \(name): \(dtype) \(shape) needs \(elements * size) bytes but data_offsets span \(end - begin)")
            }
            ranges.append((begin, end, name))
            tensors[name] = Tensor(dtype: dtype, shape: shape, bytes: body.subdata(in: (body.startIndex + begin)..<(body.startIndex + end)))
        }
        ranges.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.0 < previous.1 {
            throw fail("tensors \(previous.2) and \(next.2) overlap in the data section")
        }
    }

    private static func integer(_ value: Any) -> Int? {
        if let n = value as? Int { return n }
        if let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded() { return n.intValue }
        return nil
    }

    mutating func add<T: RAdaScalar>(_ name: String, shape: [Int], values: [T]) {
        precondition(shape.reduce(1, *) == values.count, "tensor \(name) shape \(shape) does not match \(values.count) values")
        // Float and Double are IEEE binary32/64: on a little-endian host their memory is the file's
        // byte order already.
        #if _endian(little)
        let bytes = values.withUnsafeBytes { Data($0) }
        #else
        var bytes = Data(capacity: values.count * MemoryLayout<T>.size)
        if T.self == Float.self {
            for v in values { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        } else {
            for v in values { withUnsafeBytes(of: Double(v).bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        #endif
        tensors[name] = Tensor(dtype: T.safetensorsDType, shape: shape, bytes: bytes)
    }

    /// The tensor `name` as values of type T; checks presence, dtype and (if given) the shape.
    func values<T: RAdaScalar>(_ name: String, shape expected: [Int]? = nil, as: T.Type = T.self) throws -> [T] {
        guard let tensor = tensors[name] else { throw AdaptationError.invalidCheckpoint("tensor \(name) is missing") }
        if let expected, tensor.shape != expected {
            throw AdaptationError.checkpointMismatch("tensor \(name) has shape \(tensor.shape), expected \(expected)")
        }
        let count = tensor.shape.reduce(1, *)
        switch tensor.dtype {
        case "F32":
            return tensor.bytes.withUnsafeBytes { raw in
                (0..<count).map { T(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))) }
            }
        case "F64":
            return tensor.bytes.withUnsafeBytes { raw in
                (0..<count).map { T(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }
            }
        default:
            throw AdaptationError.invalidCheckpoint("tensor \(name) has dtype \(tensor.dtype); only F32 and F64 are read")
        }
    }

    /// The file: tensors in name order, data 8-byte aligned after a space-padded header.
    func encoded() throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            header[name] = ["dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [offset, offset + tensor.bytes.count]] as [String: Any]
            offset += tensor.bytes.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names { out.append(tensors[name]!.bytes) }
        return out
    }
}
