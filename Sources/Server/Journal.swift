import Foundation
import SafeTensors
import RadaNumerics
#if canImport(Glibc)
import Glibc
#endif

/// One logged request: the image embeddings a stream processed and whether it adapted on them.
/// Replaying the records through the deterministic engine rebuilds the stream exactly.
struct JournalRecord: Equatable {
    /// Strictly increasing per stream; snapshots remember the last one they contain.
    var sequence: UInt64
    var adapt: Bool
    var features: Matrix

    /// Payload: sequence u64, adapt u8, rows u32, cols u32, rows·cols little-endian Float32.
    func payload() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(17 + features.storage.count * 4)
        withUnsafeBytes(of: sequence.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(adapt ? 1 : 0)
        withUnsafeBytes(of: UInt32(features.rows).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(features.cols).littleEndian) { bytes.append(contentsOf: $0) }
        for value in features.storage { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    init(sequence: UInt64, adapt: Bool, features: Matrix) {
        self.sequence = sequence
        self.adapt = adapt
        self.features = features
    }

    init?(payload: ArraySlice<UInt8>) {
        guard payload.count >= 17 else { return nil }
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { raw in
                for i in 0..<MemoryLayout<T>.size { raw[i] = payload[payload.startIndex + offset + i] }
            }
            return T(littleEndian: value)
        }
        let rows = Int(load(9, UInt32.self)), cols = Int(load(13, UInt32.self))
        // rows and cols come from disk: multiply with overflow checks (2^32 · 2^32 · 4 overflows).
        let (elements, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, elements <= (payload.count - 17) / 4, payload[payload.startIndex + 8] <= 1,
              payload.count == 17 + elements * 4 else { return nil }
        sequence = load(0, UInt64.self)
        adapt = payload[payload.startIndex + 8] == 1
        var storage = [Float](repeating: 0, count: rows * cols)
        for i in 0..<storage.count { storage[i] = Float(bitPattern: load(17 + 4 * i, UInt32.self)) }
        features = Matrix(rows: rows, cols: cols, storage: storage)
    }
}

/// A per-stream append-only log. Each record is framed as `length u32, crc32 u32, payload`;
/// an append is acknowledged only after `fdatasync`. A crash can leave at most one torn record at
/// the end; reading stops there and the file is cut back to the last whole record.
/// Unchecked Sendable: a journal is only touched under its stream's lock.
final class Journal: @unchecked Sendable {
    let url: URL
    private var fd: Int32

    init(url: URL) throws {
        self.url = url
        fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DurableFile.failure("cannot open journal", url.path) }
    }

    deinit { close(fd) }

    func append(_ record: JournalRecord) throws {
        let payload = record.payload()
        var frame: [UInt8] = []
        frame.reserveCapacity(8 + payload.count)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { frame.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(payload).littleEndian) { frame.append(contentsOf: $0) }
        frame.append(contentsOf: payload)
        try frame.withUnsafeBytes { try DurableFile.writeAll(fd, $0, path: url.path) }
        guard fdatasync(fd) == 0 else { throw DurableFile.failure("cannot fdatasync journal", url.path) }
    }

    /// Empties the journal (after a snapshot has made its records redundant).
    func truncate() throws {
        guard ftruncate(fd, 0) == 0, fsync(fd) == 0 else { throw DurableFile.failure("cannot truncate journal", url.path) }
    }

    /// The whole records of a journal file, in order, and the byte length they occupy.
    static func read(_ url: URL) throws -> (records: [JournalRecord], validLength: Int) {
        guard let data = FileManager.default.contents(atPath: url.path) else { return ([], 0) }
        let bytes = [UInt8](data)
        var records: [JournalRecord] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
            let crc = UInt32(bytes[offset + 4]) | UInt32(bytes[offset + 5]) << 8 | UInt32(bytes[offset + 6]) << 16 | UInt32(bytes[offset + 7]) << 24
            guard offset + 8 + length <= bytes.count else { break }
            let payload = bytes[(offset + 8)..<(offset + 8 + length)]
            guard CRC32.checksum(payload) == crc, let record = JournalRecord(payload: payload) else { break }
            records.append(record)
            offset += 8 + length
        }
        return (records, offset)
    }

    /// Cuts a journal file back to `length` bytes (dropping a torn tail) durably.
    static func cut(_ url: URL, to length: Int) throws {
        guard Glibc.truncate(url.path, off_t(length)) == 0 else { throw DurableFile.failure("cannot truncate journal", url.path) }
        let fd = open(url.path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DurableFile.failure("cannot open journal", url.path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw DurableFile.failure("cannot fsync journal", url.path) }
    }
}
