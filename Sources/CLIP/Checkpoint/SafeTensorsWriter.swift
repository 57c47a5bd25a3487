import Foundation
import RadaNumerics

#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Writes safetensors files atomically: a temporary file in the same directory is written,
/// flushed to disk, then renamed over the destination, so readers never see a partial file.
public enum SafeTensorsWriter {
    /// Storage types the writer produces.
    public enum DType: Sendable {
        case f32, f16

        var header: SafeTensorsDType { self == .f32 ? .f32 : .f16 }
    }

    /// One tensor to write: `values.count` must equal the product of `shape`.
    public typealias Tensor = (name: String, shape: [Int], values: [Float])

    /// Writes `tensors` (in the given order) with `metadata` as `__metadata__`.
    public static func write(
        _ tensors: [Tensor], metadata: [String: String] = [:], dtype: DType = .f32, to url: URL
    ) throws {
        let path = url.path
        var seen = Set<String>()
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != SafeTensorsHeader.metadataKey else {
                throw CheckpointError.writeFailed(file: path, reason: "tensor name '\(tensor.name)' is reserved or empty")
            }
            guard seen.insert(tensor.name).inserted else {
                throw CheckpointError.duplicateTensor(file: path, tensor: tensor.name)
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.reduce(1, *) == tensor.values.count else {
                throw CheckpointError.writeFailed(
                    file: path, reason: "tensor '\(tensor.name)' has \(tensor.values.count) values for shape \(tensor.shape)")
            }
        }
        let header = headerBytes(tensors, metadata: metadata, dtype: dtype)
        try AtomicFile.write(to: url) { sink in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink($0) }
            try header.withUnsafeBytes { try sink($0) }
            for tensor in tensors {
                switch dtype {
                case .f32:
                    try tensor.values.withUnsafeBytes { try sink($0) }
                case .f16:
                    var halves = [UInt16](repeating: 0, count: tensor.values.count)
                    Kernels.floatToHalf(tensor.values, &halves, count: halves.count)
                    try halves.withUnsafeBytes { try sink($0) }
                }
            }
        }
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes so the data stays aligned.
    static func headerBytes(_ tensors: [Tensor], metadata: [String: String], dtype: DType) -> [UInt8] {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            members.append("\(jsonString(SafeTensorsHeader.metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.values.count * dtype.header.byteSize
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            members.append(
                "\(jsonString(tensor.name)):{\"dtype\":\"\(dtype.header.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var bytes = Array("{\(members.joined(separator: ","))}".utf8)
        while bytes.count % 8 != 0 { bytes.append(UInt8(ascii: " ")) }
        return bytes
    }

    static func jsonString(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Write-to-temporary, fsync, rename: the destination is either the old file or the whole new one.
enum AtomicFile {
    typealias Sink = (UnsafeRawBufferPointer) throws -> Void

    static func write(to url: URL, _ body: (Sink) throws -> Void) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporary = "\(directory)/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func failure(_ what: String) -> CheckpointError {
            .writeFailed(file: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        var committed = false
        defer {
            if !committed { unlink(temporary) }
        }
        do {
            try body { buffer in
                var done = 0
                while done < buffer.count {
                    let written = systemWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { throw failure("write") }
                    done += written
                }
            }
            guard fsync(fd) == 0 else { throw failure("fsync") }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw failure("close") }
        guard rename(temporary, path) == 0 else { throw failure("rename") }
        committed = true
        // Persist the rename itself.
        let directoryFD = open(directory, O_RDONLY)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}
