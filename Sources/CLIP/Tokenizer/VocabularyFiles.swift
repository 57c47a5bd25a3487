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
        var parser = FlatJSONParser(bytes: bytes, path: path)
        return try parser.parseObjectOfIntegers()
    }

    /// Merge pairs in priority order, each with its 1-based line in the file.
    static func parseMerges(_ bytes: [UInt8], path: String) throws(TokenizerError) -> [(pair: (String, String), line: Int)] {
        var merges: [(pair: (String, String), line: Int)] = []
        merges.reserveCapacity(50_000)
        var lineNumber = 0
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = rawLine[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty { continue }
            if lineNumber == 1, line.starts(with: Array("#version".utf8)) { continue }
            let content = String(decoding: line, as: UTF8.self)
            let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
                  let left = String(validatingUTF8Bytes: parts[0]), let right = String(validatingUTF8Bytes: parts[1])
            else {
                throw .malformedMerges(path: path, line: lineNumber, content: content)
            }
            merges.append(((left, right), lineNumber))
        }
        return merges
    }
}

extension String {
    /// nil when `bytes` is not well-formed UTF-8.
    init?(validatingUTF8Bytes bytes: some Collection<UInt8>) {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var view = String.UnicodeScalarView()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): view.append(scalar)
            case .emptyInput: self = String(view); return
            case .error: return nil
            }
        }
    }
}

/// A strict parser for exactly one JSON object whose values are non-negative integers.
private struct FlatJSONParser {
    let bytes: [UInt8]
    let path: String
    var index = 0
    var line = 1

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    mutating func parseObjectOfIntegers() throws(TokenizerError) -> [String: Int] {
        var result: [String: Int] = [:]
        result.reserveCapacity(bytes.count / 16)
        skipWhitespace()
        try expect(UInt8(ascii: "{"), "the file must start with '{'")
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                let key = try parseString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "expected ':' after the key \"\(key)\"")
                skipWhitespace()
                result[key] = try parseInteger(for: key)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "expected ',' or '}' after the id of \"\(key)\"")
                break
            }
        }
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected text after the closing '}'") }
        return result
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func failure(_ reason: String) -> TokenizerError {
        .malformedVocab(path: path, line: line, reason: reason)
    }

    private mutating func expect(_ byte: UInt8, _ reason: String) throws(TokenizerError) {
        guard peek() == byte else { throw failure(reason) }
        index += 1
    }

    private mutating func skipWhitespace() {
        while let byte = peek() {
            switch byte {
            case UInt8(ascii: "\n"): line += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): break
            default: return
            }
            index += 1
        }
    }

    private mutating func parseString() throws(TokenizerError) -> String {
        try expect(UInt8(ascii: "\""), "expected a quoted token")
        let start = index
        // Fast path: no escapes, so the token is the bytes up to the closing quote.
        while let byte = peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { index += 1 }
        if peek() == UInt8(ascii: "\"") {
            index += 1
            guard let string = String(validatingUTF8Bytes: bytes[start..<(index - 1)]) else {
                throw failure("a token is not valid UTF-8")
            }
            return string
        }
        index = start
        var raw: [UInt8] = []
        while true {
            guard let byte = peek() else { throw failure("unterminated string") }
            index += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw failure("control character inside a string") }
            if byte != UInt8(ascii: "\\") {
                raw.append(byte)
                continue
            }
            guard let escaped = peek() else { throw failure("unterminated escape") }
            index += 1
            let simple: UInt8?
            switch escaped {
            case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
            case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
            case UInt8(ascii: "b"): simple = 0x08
            case UInt8(ascii: "f"): simple = 0x0C
            case UInt8(ascii: "n"): simple = 0x0A
            case UInt8(ascii: "r"): simple = 0x0D
            case UInt8(ascii: "t"): simple = 0x09
            case UInt8(ascii: "u"): simple = nil
            default: throw failure("invalid escape '\\\(Character(Unicode.Scalar(escaped)))'")
            }
            if let simple {
                raw.append(simple)
                continue
            }
            var value = try parseHex4()
            if (0xD800...0xDBFF).contains(value) {
                guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("unpaired surrogate escape")
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate escape") }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(value) else { throw failure("unpaired surrogate escape") }
            raw.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        guard let string = String(validatingUTF8Bytes: raw) else { throw failure("a token is not valid UTF-8") }
        return string
    }

    private mutating func parseHex4() throws(TokenizerError) -> UInt32 {
        guard index + 4 <= bytes.count,
              let value = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16)
        else { throw failure("invalid \\u escape") }
        index += 4
        return value
    }

    private mutating func parseInteger(for key: String) throws(TokenizerError) -> Int {
        let start = index
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        guard index > start, index - start <= 9 else {
            throw failure("the id of \"\(key)\" is not a non-negative integer below 10^9")
        }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw failure("the id of \"\(key)\" is not an integer")
        }
        var value = 0
        for byte in bytes[start..<index] { value = value * 10 + Int(byte - UInt8(ascii: "0")) }
        return value
    }
}
