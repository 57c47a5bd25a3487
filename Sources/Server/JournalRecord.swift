import Foundation
import RadaNumerics

/// One logged request: the image embeddings a stream processed and whether it adapted on them.
/// Replaying the records through the deterministic engine rebuilds the stream exactly.
struct JournalRecord: Equatable {
    /// Strictly increasing per stream; snapshots remember the last one they contain.
    var sequence: UInt64
    var adapt: Bool
    var features: Matrix
    /// When the request was served, in milliseconds since 1970 (its history point's time); nil in
    /// records written before streams kept a history.
    var time: Int64?

    /// Payload: sequence u64, adapt u8, rows u32, cols u32, rows·cols little-endian Float32, then
    /// (when known) the time as i64.
    func payload() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(17 + features.storage.count * 4)
        withUnsafeBytes(of: sequence.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(adapt ? 1 : 0)
        withUnsafeBytes(of: UInt32(features.rows).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(features.cols).littleEndian) { bytes.append(contentsOf: $0) }
        for value in features.storage { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        if let time { withUnsafeBytes(of: time.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    init(sequence: UInt64, adapt: Bool, features: Matrix, time: Int64? = nil) {
        self.sequence = sequence
        self.adapt = adapt
        self.features = features
        self.time = time
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
              payload.count == 17 + elements * 4 || payload.count == 25 + elements * 4 else { return nil }
        sequence = load(0, UInt64.self)
        adapt = payload[payload.startIndex + 8] == 1
        var storage = [Float](repeating: 0, count: rows * cols)
        for i in 0..<storage.count { storage[i] = Float(bitPattern: load(17 + 4 * i, UInt32.self)) }
        features = Matrix(rows: rows, cols: cols, storage: storage)
        time = payload.count == 25 + elements * 4 ? load(17 + 4 * elements, Int64.self) : nil
    }
}
