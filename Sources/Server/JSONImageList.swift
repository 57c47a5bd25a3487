import CBase64
import Foundation

/// The fast path for the JSON body nearly every client sends, `{"images": ["<base64>", ...]}`:
/// the image files straight from the body's bytes, or nil when the body is anything else.
///
/// Why: through `JSONDecoder` a 270 kB image costs about 0.9 ms before decoding starts (the body
/// copied into a `String`, scanned, copied again, then base64-decoded), half of what the whole
/// answer of a small request costs in process. Here the bytes are read once.
///
/// It accepts only a strict subset of what `ImageInput`'s general path accepts and returns
/// exactly what that path would for it: one key `images` (no escapes), an array of strings that
/// Foundation's base64 decoder accepts as they are (decoded by `decode`), JSON whitespace between tokens and nothing
/// after the object. Everything else (escapes, `data:` prefixes, line breaks, other keys, any
/// error) gets nil, and the general path decides, with its error messages. `JSONImageListTests`
/// and `make fuzz-json-images` check both paths agree on valid, crafted and random bodies.
enum JSONImageList {
    /// The one key, with its closing quote.
    private static let key = Array("images\"".utf8)

    static func files(_ body: UnsafeRawBufferPointer) -> [Data]? {
        try? files(body, maxFiles: .max)
    }

    /// A list longer than the caller's limit (`ImageInput` answers 413, as for any count over it).
    struct TooManyFiles: Error { let limit: Int }

    /// As above, but a list longer than `maxFiles` throws `TooManyFiles` as soon as its next
    /// string starts: neither path then builds the rest of it.
    static func files(_ body: UnsafeRawBufferPointer, maxFiles: Int) throws(TooManyFiles) -> [Data]? {
        guard let base = body.baseAddress else { return nil }
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
        let key = Self.key
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
                if files.count == maxFiles { throw TooManyFiles(limit: maxFiles) }
                let start = i
                // memchr finds the closing quote at memory speed; a byte loop here was 2.4 % of
                // the server's CPU time under a 1-image JSON load (70 µs of a 190 kB image).
                guard let quote = memchr(base + start, Int32(UInt8(ascii: "\"")), count - start) else { return nil }
                i = base.distance(to: UnsafeRawPointer(quote))
                // Both decoders refuse every byte outside the alphabet (backslashes, controls,
                // spaces, ':'), so what they accept here is exactly the string JSONDecoder would
                // produce, and `decodeBase64` would decode it the same way.
                guard let file = decode(base + start, count: i - start) else { return nil }
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

    /// Base64 text read in place (the body outlives the call): canonical text by the AVX2
    /// decoder (a 250 kB image's text in about 20 µs instead of 80), anything else, and every
    /// CPU without AVX2, by Foundation's, which then decides.
    static func decode(_ text: UnsafeRawPointer, count: Int) -> Data? {
        let characters = text.assumingMemoryBound(to: UInt8.self)
        if let out = malloc(rada_base64_capacity(count)) {
            let decoded = rada_base64_decode(characters, count, out.assumingMemoryBound(to: UInt8.self))
            if decoded >= 0 { return Data(bytesNoCopy: out, count: decoded, deallocator: .free) }
            free(out)
        }
        return Data(base64Encoded: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: text), count: count, deallocator: .none))
    }
}
