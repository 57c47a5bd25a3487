import Foundation

/// Readers for the Hugging Face tokenizer files: vocab.json (`{"token": id, ...}`) and
/// merges.txt (`#version` header, then `left right` per line, highest priority first).
///
/// vocab.json is parsed by hand rather than with `JSONSerialization`: it is one flat object, a
/// direct parse is faster for CLIP's 49 408 entries, and errors can name the line.
enum VocabularyFiles {
    static func read(_ url: URL) throws(TokenizerError) -> [UInt8] {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        guard !isDirectory.boolValue else { throw .unreadableFile(path: path, reason: "it is a directory") }
        do {
            return [UInt8](try Data(contentsOf: url))
        } catch {
            throw .unreadableFile(path: path, reason: error.localizedDescription)
        }
    }

    static func parseVocab(_ bytes: [UInt8], path: String) throws(TokenizerError) -> [String: Int] {
        guard isValidUTF8(bytes) else { throw .malformedVocab(path: path, line: 1, reason: "the file is not valid UTF-8") }
        return try FlatJSONParser.parse(bytes, path: path)
    }

    /// Merge pairs in priority order, each with its 1-based line in the file.
    static func parseMerges(_ bytes: [UInt8], path: String) throws(TokenizerError) -> [(pair: (String, String), line: Int)] {
        guard isValidUTF8(bytes) else { throw .malformedMerges(path: path, line: 1, content: "(the file is not valid UTF-8)") }
        let result: Result<[(pair: (String, String), line: Int)], TokenizerError> = bytes.withUnsafeBufferPointer { buffer in
            var merges: [(pair: (String, String), line: Int)] = []
            merges.reserveCapacity(50_000)
            var lineNumber = 0
            var start = 0
            while start < buffer.count {
                lineNumber += 1
                var end = start
                var space = -1
                var spaces = 0
                while end < buffer.count, buffer[end] != 0x0A {  // \n
                    if buffer[end] == 0x20 {
                        space = end
                        spaces += 1
                    }
                    end += 1
                }
                let next = end + 1
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }  // \r\n
                defer { start = next }
                if end == start { continue }
                let line = UnsafeBufferPointer(rebasing: buffer[start..<end])
                if lineNumber == 1, line.starts(with: "#version".utf8) { continue }
                guard spaces == 1, space > start, space < end - 1 else {
                    return .failure(.malformedMerges(path: path, line: lineNumber, content: String(decoding: line, as: UTF8.self)))
                }
                let left = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<space]), as: UTF8.self)
                let right = String(decoding: UnsafeBufferPointer(rebasing: buffer[(space + 1)..<end]), as: UTF8.self)
                merges.append(((left, right), lineNumber))
            }
            return .success(merges)
        }
        return try result.get()
    }

    /// Whether decoding `bytes` loses nothing, i.e. no byte had to become U+FFFD. Checked once per
    /// file so that each token can then be decoded without validation (much faster in debug builds).
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var decoded = String(decoding: bytes, as: UTF8.self)
        return decoded.withUTF8 { utf8 in
            utf8.count == bytes.count
                && (bytes.isEmpty || bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, utf8.baseAddress!, bytes.count) == 0 })
        }
    }
}

/// A strict parser for exactly one JSON object whose values are non-negative integers.
/// Bytes are compared with literals (`0x22` is `"`): `UInt8(ascii:)` is a call per byte in debug
/// builds, where the tests load CLIP's 1 MB vocabulary.
private struct FlatJSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let path: String
    var index = 0
    var line = 1

    static func parse(_ bytes: [UInt8], path: String) throws(TokenizerError) -> [String: Int] {
        let result: Result<[String: Int], TokenizerError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = FlatJSONParser(bytes: buffer, path: path)
            do throws(TokenizerError) { return .success(try parser.parseObjectOfIntegers()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    mutating func parseObjectOfIntegers() throws(TokenizerError) -> [String: Int] {
        var result: [String: Int] = [:]
        result.reserveCapacity(bytes.count / 16)
        skipWhitespace()
        try expect(0x7B, "the file must start with '{'")  // {
        skipWhitespace()
        if index < bytes.count, bytes[index] == 0x7D {  // }
            index += 1
        } else {
            while true {
                skipWhitespace()
                let key = try parseString()
                skipWhitespace()
                try expect(0x3A, "expected ':' after the key \"\(key)\"")  // :
                skipWhitespace()
                result[key] = try parseInteger(for: key)
                skipWhitespace()
                if index < bytes.count, bytes[index] == 0x2C {  // ,
                    index += 1
                    continue
                }
                try expect(0x7D, "expected ',' or '}' after the id of \"\(key)\"")
                break
            }
        }
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected text after the closing '}'") }
        return result
    }

    private func failure(_ reason: String) -> TokenizerError {
        .malformedVocab(path: path, line: line, reason: reason)
    }

    private mutating func expect(_ byte: UInt8, _ reason: String) throws(TokenizerError) {
        guard index < bytes.count, bytes[index] == byte else { throw failure(reason) }
        index += 1
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x0A: line += 1
            case 0x20, 0x09, 0x0D: break
            default: return
            }
            index += 1
        }
    }

    private mutating func parseString() throws(TokenizerError) -> String {
        try expect(0x22, "expected a quoted token")
        let start = index
        // Fast path: no escapes, so the token is the bytes up to the closing quote.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x22 || byte == 0x5C || byte < 0x20 { break }
            index += 1
        }
        if index < bytes.count, bytes[index] == 0x22 {
            index += 1
            // The whole file was validated as UTF-8 and quotes are ASCII, so the slice is too.
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)]), as: UTF8.self)
        }
        index = start
        var raw: [UInt8] = []
        while true {
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            index += 1
            if byte == 0x22 { break }
            if byte < 0x20 { throw failure("control character inside a string") }
            if byte != 0x5C {  // backslash
                raw.append(byte)
                continue
            }
            guard index < bytes.count else { throw failure("unterminated escape") }
            let escaped = bytes[index]
            index += 1
            switch escaped {
            case 0x22, 0x5C, 0x2F: raw.append(escaped)  // " \ /
            case 0x62: raw.append(0x08)  // b
            case 0x66: raw.append(0x0C)  // f
            case 0x6E: raw.append(0x0A)  // n
            case 0x72: raw.append(0x0D)  // r
            case 0x74: raw.append(0x09)  // t
            case 0x75: raw.append(contentsOf: try parseUnicodeEscape())  // u
            default: throw failure("invalid escape '\\\(Character(Unicode.Scalar(escaped)))'")
            }
        }
        return String(decoding: raw, as: UTF8.self)
    }

    /// The UTF-8 of a `\\uXXXX` escape (the `\\u` already read), joining a surrogate pair.
    private mutating func parseUnicodeEscape() throws(TokenizerError) -> [UInt8] {
        var value = try parseHex4()
        if (0xD800...0xDBFF).contains(value) {
            guard index + 1 < bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else {
                throw failure("unpaired surrogate escape")
            }
            index += 2
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate escape") }
            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(value) else { throw failure("unpaired surrogate escape") }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func parseHex4() throws(TokenizerError) -> UInt32 {
        guard index + 4 <= bytes.count,
              let value = UInt32(String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<(index + 4)]), as: UTF8.self), radix: 16)
        else { throw failure("invalid \\u escape") }
        index += 4
        return value
    }

    private mutating func parseInteger(for key: String) throws(TokenizerError) -> Int {
        let start = index
        var value = 0
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39, index - start < 10 {
            value = value * 10 + Int(bytes[index] - 0x30)
            index += 1
        }
        guard index > start, index - start <= 9 else {
            throw failure("the id of \"\(key)\" is not a non-negative integer below 10^9")
        }
        if index < bytes.count, bytes[index] == 0x2E || bytes[index] == 0x65 || bytes[index] == 0x45 {  // . e E
            throw failure("the id of \"\(key)\" is not an integer")
        }
        return value
    }
}
