/// The two UTF-8 decoders ftfy's re-decoding uses, all or nothing (nil on any error).
enum UTF8Bytes {
    /// Python's strict `bytes.decode("utf-8")`.
    static func decode(_ bytes: ArraySlice<UInt8>) -> [Unicode.Scalar]? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(bytes.count)
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: return scalars
            case .error: return nil
            }
        }
    }

    static func decode(_ bytes: [UInt8]) -> [Unicode.Scalar]? { decode(bytes[...]) }

    /// ftfy's `utf-8-variants` codec: UTF-8 plus CESU-8 surrogate pairs (`ED A0-AF 80-BF ED
    /// B0-BF 80-BF`, ftfy's arithmetic) and `C0 80` for U+0000. Python's `$` in ftfy's byte
    /// patterns also matches before a final newline, so `C0 0A` and a pair whose last byte is a
    /// final `0A` count too, as they do there.
    static func decodeVariants(_ bytes: [UInt8]) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        var chunkStart = 0
        var i = 0
        let n = bytes.count
        func flush(to end: Int) -> Bool {
            guard let chunk = decode(bytes[chunkStart..<end]) else { return false }
            out.append(contentsOf: chunk)
            return true
        }
        let atEnd = { (k: Int) in k == n || (k == n - 1 && bytes[k] == 0x0A) }
        while i < n {
            switch bytes[i] {
            case 0xC0 where i + 1 < n && (bytes[i + 1] == 0x80 || atEnd(i + 1)):
                guard flush(to: i) else { return nil }
                out.append("\u{0}")
                i += 2
                chunkStart = i
            case 0xC0 where i + 1 == n:
                return nil
            case 0xED:
                if i + 6 <= n, (0xA0...0xAF).contains(bytes[i + 1]), (0x80...0xBF).contains(bytes[i + 2]),
                   bytes[i + 3] == 0xED, (0xB0...0xBF).contains(bytes[i + 4]),
                   (0x80...0xBF).contains(bytes[i + 5]) || (i + 6 == n && bytes[i + 5] == 0x0A) {
                    guard flush(to: i) else { return nil }
                    var value = (UInt32(bytes[i + 1]) & 0x0F) << 16
                    value += (UInt32(bytes[i + 2]) & 0x3F) << 10
                    value += (UInt32(bytes[i + 4]) & 0x0F) << 6
                    value += UInt32(bytes[i + 5]) & 0x3F
                    out.append(Unicode.Scalar(value + 0x10000)!)
                    i += 6
                    chunkStart = i
                } else if atEnd(i + 1) || (0xA0...0xBF).contains(bytes[i + 1]) {
                    return nil  // a lone surrogate: Python's decoder refuses it
                } else {
                    i += 1
                }
            default:
                i += 1
            }
        }
        return flush(to: n) ? out : nil
    }
}
