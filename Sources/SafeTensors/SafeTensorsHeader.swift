import Foundation

/// The parsed and validated header of a safetensors file.
public struct SafeTensorsHeader: Sendable {
    /// Byte offset of the data section within the file.
    public var dataStart: Int
    /// Entries sorted by their position in the data section.
    public var tensors: [TensorInfo]
    public var metadata: [String: String]

    public static let metadataKey = "__metadata__"

    /// Parses and validates the header of the file `bytes`; `path` names the source in errors.
    /// Every size read from the bytes is checked before it is used in arithmetic or allocation.
    public init(bytes: Data, path: String, maxHeaderBytes: Int) throws {
        guard bytes.count >= 8 else { throw SafeTensorsError.fileTooSmall(file: path, size: bytes.count) }
        let headerLength = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(max(0, maxHeaderBytes)) else {
            throw SafeTensorsError.headerTooLarge(file: path, headerBytes: headerLength, limit: maxHeaderBytes)
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw SafeTensorsError.headerBeyondFile(file: path, headerBytes: headerLength, fileSize: bytes.count)
        }
        let headerEnd = 8 + Int(headerLength)
        let json = [UInt8](bytes[bytes.startIndex + 8..<bytes.startIndex + headerEnd])
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
                throw SafeTensorsError.invalidHeaderJSON(file: path, reason: "the top level is not an object")
            }
            root = object
        } catch let error as SafeTensorsError {
            throw error
        } catch {
            throw SafeTensorsError.invalidHeaderJSON(file: path, reason: "\(error.localizedDescription)")
        }
        var seen = Set<String>()
        for key in JSONKeyScanner.topLevelKeys(json) where !seen.insert(key).inserted {
            throw SafeTensorsError.duplicateTensor(file: path, tensor: key)
        }

        metadata = [:]
        if let raw = root[Self.metadataKey] {
            guard let map = raw as? [String: Any] else {
                throw SafeTensorsError.invalidHeaderJSON(file: path, reason: "__metadata__ is not an object")
            }
            for (key, value) in map {
                guard let string = value as? String else {
                    throw SafeTensorsError.invalidHeaderJSON(file: path, reason: "__metadata__ value for '\(key)' is not a string")
                }
                metadata[key] = string
            }
        }

        let dataBytes = bytes.count - headerEnd
        var entries: [TensorInfo] = []
        for (name, value) in root where name != Self.metadataKey {
            entries.append(try Self.entry(name: name, value: value, path: path, dataBytes: dataBytes))
        }
        entries.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound, $0.name) < ($1.byteRange.lowerBound, $1.byteRange.upperBound, $1.name) }
        var previous: TensorInfo?
        for entry in entries where !entry.byteRange.isEmpty {
            if let previous, previous.byteRange.upperBound > entry.byteRange.lowerBound {
                throw SafeTensorsError.overlappingTensors(file: path, first: previous.name, second: entry.name)
            }
            previous = entry
        }
        dataStart = headerEnd
        tensors = entries
    }

    private static func entry(name: String, value: Any, path: String, dataBytes: Int) throws -> TensorInfo {
        func invalid(_ reason: String) -> SafeTensorsError {
            .invalidTensorEntry(file: path, tensor: name, reason: reason)
        }
        guard let fields = value as? [String: Any] else { throw invalid("not an object") }
        guard let dtypeName = fields["dtype"] as? String else { throw invalid("no string 'dtype'") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError.unknownDType(file: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeValues = fields["shape"] as? [Any] else { throw invalid("no 'shape' array") }
        let shape = try shapeValues.map { element -> Int in
            guard let dim = integer(element), dim >= 0 else { throw invalid("shape \(shapeValues) has a negative or non-integer size") }
            return dim
        }
        guard let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2,
              let begin = integer(offsetValues[0]), let end = integer(offsetValues[1]), begin >= 0, begin <= end
        else { throw invalid("'data_offsets' must be two integers [begin, end] with 0 ≤ begin ≤ end") }

        var expected = dtype.byteSize
        for dim in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw invalid("shape \(shape) overflows") }
            expected = product
        }
        guard expected == end - begin else {
            throw SafeTensorsError.sizeMismatch(file: path, tensor: name, expectedBytes: expected, actualBytes: end - begin)
        }
        guard end <= dataBytes else {
            throw SafeTensorsError.offsetsOutOfBounds(file: path, tensor: name, end: end, dataBytes: dataBytes)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// An exact integer from a JSON number (rejecting 1.5 and 1e300).
    private static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 9.0e15 else { return nil }
        return number.intValue
    }
}
