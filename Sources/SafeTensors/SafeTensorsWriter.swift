import Foundation
import RadaNumerics

/// Builds safetensors files: tensors in the order they were added, metadata as `__metadata__`,
/// the JSON header padded with spaces so that the data section starts 8-byte aligned. The one
/// writer of the format (model fixtures, stream snapshots and checkpoints).
public struct SafeTensorsWriter: Sendable {
    /// Storage types for float values.
    public enum DType: Sendable {
        case f32, f16

        var header: SafeTensorsDType { self == .f32 ? .f32 : .f16 }
    }

    /// One tensor to write: `values.count` must equal the product of `shape`.
    public typealias Tensor = (name: String, shape: [Int], values: [Float])

    private struct Entry: Sendable {
        var name: String
        var dtype: SafeTensorsDType
        var shape: [Int]
        var bytes: Data
    }

    private var entries: [Entry] = []
    public var metadata: [String: String] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Every tensor and the metadata of `file`, bytes unchanged (to edit a file and write it back).
    public init(copying file: SafeTensorsFile) throws {
        metadata = file.metadata
        for name in file.names {
            let info = file.info(name)!
            entries.append(Entry(name: name, dtype: info.dtype, shape: info.shape, bytes: try file.rawBytes(name)))
        }
    }

    /// Names in file order.
    public var names: [String] { entries.map(\.name) }

    /// Adds `values` under `name` (replacing a tensor of that name in place).
    public mutating func add(_ name: String, shape: [Int], values: [Float], as dtype: DType = .f32) {
        precondition(Self.count(shape) == values.count, "tensor \(name) shape \(shape) does not match \(values.count) values")
        let bytes: Data
        switch dtype {
        case .f32:
            bytes = values.withUnsafeBytes { Data($0) }
        case .f16:
            var halves = [UInt16](repeating: 0, count: values.count)
            Kernels.floatToHalf(values, &halves, count: halves.count)
            bytes = halves.withUnsafeBytes { Data($0) }
        }
        put(Entry(name: name, dtype: dtype.header, shape: shape, bytes: bytes))
    }

    /// Adds `bytes` as a one-dimensional U8 tensor under `name` (replacing a tensor of that name
    /// in place): a file of its own carried inside this one.
    public mutating func add(_ name: String, bytes: Data) {
        put(Entry(name: name, dtype: .u8, shape: [bytes.count], bytes: bytes))
    }

    /// Adds Float64 `values` under `name` (replacing a tensor of that name in place).
    public mutating func add(_ name: String, shape: [Int], values: [Double]) {
        precondition(Self.count(shape) == values.count, "tensor \(name) shape \(shape) does not match \(values.count) values")
        put(Entry(name: name, dtype: .f64, shape: shape, bytes: values.withUnsafeBytes { Data($0) }))
    }

    /// Removes the tensor `name` if present.
    public mutating func remove(_ name: String) { entries.removeAll { $0.name == name } }

    private mutating func put(_ entry: Entry) {
        if let index = entries.firstIndex(where: { $0.name == entry.name }) { entries[index] = entry } else { entries.append(entry) }
    }

    private static func count(_ shape: [Int]) -> Int? {
        var count = 1
        for n in shape {
            guard n >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// The whole file. (Float data is written in host order: every supported host is little-endian.)
    public func encoded() -> Data {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(Self.jsonString($0.key)):\(Self.jsonString($0.value))" }
            members.append("\(Self.jsonString(SafeTensorsHeader.metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for entry in entries {
            let end = offset + entry.bytes.count
            let shape = entry.shape.map(String.init).joined(separator: ",")
            members.append(
                "\(Self.jsonString(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(members.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for entry in entries { out.append(entry.bytes) }
        return out
    }

    /// Writes `tensors` (in the given order) with `metadata` to `url`, replacing it atomically and
    /// durably (`DurableFile.replace`).
    public static func write(
        _ tensors: [Tensor], metadata: [String: String] = [:], dtype: DType = .f32, to url: URL
    ) throws {
        let path = url.path
        var writer = SafeTensorsWriter(metadata: metadata)
        var seen = Set<String>()
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != SafeTensorsHeader.metadataKey else {
                throw SafeTensorsError.writeFailed(file: path, reason: "tensor name '\(tensor.name)' is reserved or empty")
            }
            guard seen.insert(tensor.name).inserted else {
                throw SafeTensorsError.duplicateTensor(file: path, tensor: tensor.name)
            }
            guard count(tensor.shape) == tensor.values.count else {
                throw SafeTensorsError.writeFailed(
                    file: path, reason: "tensor '\(tensor.name)' has \(tensor.values.count) values for shape \(tensor.shape)")
            }
            writer.add(tensor.name, shape: tensor.shape, values: tensor.values, as: dtype)
        }
        do { try DurableFile.replace(url, with: writer.encoded()) } catch let error as DurableFile.Failure {
            throw SafeTensorsError.writeFailed(file: path, reason: error.description)
        }
    }

    /// `string` as a JSON string literal: quote, backslash and control characters escaped, every
    /// other character as it is. Byte by byte over the UTF-8 (a multi-byte character never
    /// contains a byte below 0x80), because a stream snapshot's metadata carries its history as
    /// a string of up to 64 KiB and a per-character loop took about 1 ms of each snapshot.
    static func jsonString(_ string: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count + string.utf8.count / 4 + 2)
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                let low = byte & 15
                out.append(byte < 0x10 ? UInt8(ascii: "0") : UInt8(ascii: "1"))
                out.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + (low - 10))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}
