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
    /// The client's `Idempotency-Key` of the request, if it sent one (a valid `IdempotencyKey`).
    var idempotencyKey: String?

    /// Payload: sequence u64, adapt u8, rows u32, cols u32, rows·cols little-endian Float32; then
    /// the time as i64 (absent only in records written before histories existed: those are read
    /// as they always were); then, only for a request with an idempotency key, its length u8 and
    /// its ASCII bytes.
    func payload() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(17 + features.storage.count * 4 + 8 + 1 + (idempotencyKey?.utf8.count ?? 0))
        withUnsafeBytes(of: sequence.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(adapt ? 1 : 0)
        withUnsafeBytes(of: UInt32(features.rows).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(features.cols).littleEndian) { bytes.append(contentsOf: $0) }
        for value in features.storage { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        if time != nil || idempotencyKey != nil {
            withUnsafeBytes(of: (time ?? 0).littleEndian) { bytes.append(contentsOf: $0) }
        }
        if let idempotencyKey {
            bytes.append(UInt8(idempotencyKey.utf8.count))
            bytes.append(contentsOf: idempotencyKey.utf8)
        }
        return bytes
    }

    init(sequence: UInt64, adapt: Bool, features: Matrix, time: Int64? = nil, idempotencyKey: String? = nil) {
        self.sequence = sequence
        self.adapt = adapt
        self.features = features
        self.time = time
        self.idempotencyKey = idempotencyKey
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
        guard !overflow, elements <= (payload.count - 17) / 4, payload[payload.startIndex + 8] <= 1 else { return nil }
        let timeAt = 17 + elements * 4, keyAt = timeAt + 8
        switch payload.count {
        case timeAt:
            (time, idempotencyKey) = (nil, nil)
        case keyAt:
            (time, idempotencyKey) = (load(timeAt, Int64.self), nil)
        default:
            // A key: its length byte and exactly that many bytes, which must form a valid key.
            guard payload.count > keyAt, payload.count == keyAt + 1 + Int(payload[payload.startIndex + keyAt]),
                  let key = IdempotencyKey.validated(String(decoding: payload[(payload.startIndex + keyAt + 1)...], as: UTF8.self)) else { return nil }
            (time, idempotencyKey) = (load(timeAt, Int64.self), key)
        }
        sequence = load(0, UInt64.self)
        adapt = payload[payload.startIndex + 8] == 1
        var storage = [Float](repeating: 0, count: rows * cols)
        for i in 0..<storage.count { storage[i] = Float(bitPattern: load(17 + 4 * i, UInt32.self)) }
        features = Matrix(rows: rows, cols: cols, storage: storage)
    }
}

/// A client's `Idempotency-Key` on classify: 1-128 visible ASCII characters (`!` to `~`).
enum IdempotencyKey {
    static let maxLength = 128

    /// The key when it is valid, nil otherwise.
    static func validated(_ text: String) -> String? {
        let bytes = text.utf8
        guard (1...maxLength).contains(bytes.count), bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return text
    }
}
