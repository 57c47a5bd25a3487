import Foundation

/// Lists the member names of a JSON document's top-level object in order, duplicates included.
///
/// `JSONSerialization` keeps only one value per repeated key, so a safetensors header naming a
/// tensor twice would pass unnoticed; this scanner sees every key. It assumes the bytes already
/// parsed as JSON, so it only has to track strings, nesting and commas.
enum JSONKeyScanner {
    static func topLevelKeys(_ bytes: [UInt8]) -> [String] {
        var keys: [String] = []
        var depth = 0
        var expectingKey = false
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""):
                let start = i + 1
                var j = start
                var escaped = false
                while j < bytes.count, bytes[j] != UInt8(ascii: "\"") {
                    if bytes[j] == UInt8(ascii: "\\") { escaped = true; j += 1 }
                    j += 1
                }
                if depth == 1 && expectingKey {
                    keys.append(decode(bytes[start..<min(j, bytes.count)], escaped: escaped))
                    expectingKey = false
                }
                i = j + 1
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth == 1 { expectingKey = true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectingKey = true }
            default:
                break
            }
            i += 1
        }
        return keys
    }

    /// Undoes JSON escapes so that `"a"` and `"\u0061"` compare equal, as a JSON parser sees them.
    private static func decode(_ raw: ArraySlice<UInt8>, escaped: Bool) -> String {
        guard escaped else { return String(decoding: raw, as: UTF8.self) }
        let quoted = Data([UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")])
        let value = try? JSONSerialization.jsonObject(with: quoted, options: .fragmentsAllowed)
        return (value as? String) ?? String(decoding: raw, as: UTF8.self)
    }
}
