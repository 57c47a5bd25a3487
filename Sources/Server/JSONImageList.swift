import Foundation

/// The fast path for the JSON body nearly every client sends, `{"images": ["<base64>", ...]}`:
/// the image files straight from the body's bytes, or nil when the body is anything else.
///
/// Why: through `JSONDecoder` a 270 kB image costs about 0.9 ms before decoding starts (the body
/// copied into a `String`, scanned, copied again, then base64-decoded), half of what the whole
/// answer of a small request costs in process. Here the bytes are read once.
///
/// It accepts only a strict subset of what `ImageInput`'s general path accepts and returns
/// exactly what that path would for it: one key `images` (no escapes), an array of strings of
/// canonical base64 (the 64-letter alphabet, length a multiple of 4, `=` only as the last one
/// or two characters, never empty), JSON whitespace between tokens and nothing after the
/// object. Everything else (escapes, `data:` prefixes, line breaks, other keys, any error) gets
/// nil, and the general path decides, with its error messages. `ImageInputTests` checks both
/// paths agree on valid, crafted and random bodies.
enum JSONImageList {
    static func files(_ body: UnsafeRawBufferPointer) -> [Data]? {
        let bytes = body.bindMemory(to: UInt8.self)
        let count = bytes.count
        var i = 0
        func skipSpace() {
            while i < count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }
        func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < count, bytes[i] == byte else { return false }
            i += 1
            return true
        }
        guard take(UInt8(ascii: "{")), take(UInt8(ascii: "\"")) else { return nil }
        let key = Array("images\"".utf8)
        guard count - i >= key.count, key.indices.allSatisfy({ bytes[i + $0] == key[$0] }) else { return nil }
        i += key.count
        guard take(UInt8(ascii: ":")), take(UInt8(ascii: "[")) else { return nil }
        var files: [Data] = []
        skipSpace()
        if i < count, bytes[i] == UInt8(ascii: "]") {
            i += 1
        } else {
            while true {
                guard take(UInt8(ascii: "\"")) else { return nil }
                let start = i
                while i < count, bytes[i] != UInt8(ascii: "\"") { i += 1 }
                guard i < count, let file = Base64.decode(UnsafeBufferPointer(rebasing: bytes[start..<i])) else { return nil }
                files.append(file)
                i += 1
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "]")) else { return nil }
                break
            }
        }
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        return i == count ? files : nil
    }
}

/// Canonical base64 (RFC 4648 §4) only; nil for anything else, including the forms other
/// decoders tolerate (missing padding, whitespace, the URL alphabet), so that callers can send
/// those to a general decoder instead.
enum Base64 {
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, letter) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(letter)] = UInt8(value)
        }
        return table
    }()

    static func decode(_ text: UnsafeBufferPointer<UInt8>) -> Data? {
        let n = text.count
        guard n > 0, n % 4 == 0 else { return nil }
        let padding = text[n - 1] == UInt8(ascii: "=") ? (text[n - 2] == UInt8(ascii: "=") ? 2 : 1) : 0
        var data = Data(count: n / 4 * 3 - padding)
        let ok = values.withUnsafeBufferPointer { table in
            data.withUnsafeMutableBytes { raw -> Bool in
                let out = raw.bindMemory(to: UInt8.self)
                var o = 0
                var bad: UInt8 = 0
                // Every quartet but the last: four letters, three bytes; an invalid letter sets
                // the table's high bit, checked once per quartet.
                var q = 0
                while q + 4 < n || (q + 4 == n && padding == 0) {
                    let a = table[Int(text[q])], b = table[Int(text[q + 1])], c = table[Int(text[q + 2])], d = table[Int(text[q + 3])]
                    bad |= a | b | c | d
                    out[o] = a << 2 | b >> 4
                    out[o + 1] = b << 4 | c >> 2
                    out[o + 2] = c << 6 | d
                    o += 3
                    q += 4
                }
                guard bad & 0x80 == 0 else { return false }
                if padding > 0 {
                    let a = table[Int(text[q])], b = table[Int(text[q + 1])]
                    let c = padding == 1 ? table[Int(text[q + 2])] : 0
                    guard (a | b | c) & 0x80 == 0 else { return false }
                    out[o] = a << 2 | b >> 4
                    if padding == 1 { out[o + 1] = b << 4 | c >> 2 }
                }
                return true
            }
        }
        return ok ? data : nil
    }
}
