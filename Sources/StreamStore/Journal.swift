import Foundation
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// A per-stream append-only log (one file; a stream's journal is a run of them, see
/// `StreamDirectory`). Each record is framed as `length u32, crc32 u32, payload`; an append is
/// acknowledged only after `fdatasync`. A crash can leave at most one torn record at the end;
/// reading stops there and the file is cut back to the last whole record.
/// Unchecked Sendable: a journal is only touched under its stream's lock.
public final class Journal: @unchecked Sendable {
    public let url: URL
    private let fd: Int32
    /// Bytes of whole records in the file: where the next record starts.
    public private(set) var length: Int

    public init(url: URL) throws {
        self.url = url
        fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DurableFile.failure("cannot open journal", url.path) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            close(fd)
            throw DurableFile.failure("cannot stat journal", url.path)
        }
        length = Int(status.st_size)
    }

    deinit { close(fd) }

    /// Appends one record's payload and fdatasyncs it.
    public func append(_ payload: [UInt8]) throws {
        var frame: [UInt8] = []
        frame.reserveCapacity(8 + payload.count)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { frame.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(payload).littleEndian) { frame.append(contentsOf: $0) }
        frame.append(contentsOf: payload)
        do {
            try frame.withUnsafeBytes { try DurableFile.writeAll(fd, $0, path: url.path) }
            guard fdatasync(fd) == 0 else { throw DurableFile.failure("cannot fdatasync journal", url.path) }
        } catch {
            // A part written (a full disk) would end the readable journal here: records
            // acknowledged after it would be lost on the next read. Cut it back off.
            _ = ftruncate(fd, off_t(length))
            throw error
        }
        length += frame.count
    }

    /// The payloads of the whole records of a journal file, in order, and the byte length they
    /// occupy; reading stops at the first record whose checksum fails or that `accept` refuses.
    public static func read(_ url: URL, accept: ([UInt8]) -> Bool) throws -> (records: [[UInt8]], validLength: Int) {
        guard let data = FileManager.default.contents(atPath: url.path) else { return ([], 0) }
        let bytes = [UInt8](data)
        var records: [[UInt8]] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
            let crc = UInt32(bytes[offset + 4]) | UInt32(bytes[offset + 5]) << 8 | UInt32(bytes[offset + 6]) << 16 | UInt32(bytes[offset + 7]) << 24
            guard offset + 8 + length <= bytes.count else { break }
            let payload = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            guard CRC32.checksum(payload) == crc, accept(payload) else { break }
            records.append(payload)
            offset += 8 + length
        }
        return (records, offset)
    }

    /// Cuts a journal file back to `length` bytes (dropping a torn tail) durably.
    public static func cut(_ url: URL, to length: Int) throws {
        guard Glibc.truncate(url.path, off_t(length)) == 0 else { throw DurableFile.failure("cannot truncate journal", url.path) }
        let fd = open(url.path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DurableFile.failure("cannot open journal", url.path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw DurableFile.failure("cannot fsync journal", url.path) }
    }
}
