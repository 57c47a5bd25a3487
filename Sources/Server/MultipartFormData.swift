#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A strict multipart/form-data parser (RFC 7578 over RFC 2046's multipart grammar).
///
/// Why our own instead of MultipartKit's callback parser: that parser reports parts as they end
/// and says nothing when the body stops before the closing delimiter, so a truncated upload used
/// to be accepted minus its last part. Here the whole body is validated before any part is
/// returned: the opening delimiter, every part's header block, every part closed by a delimiter,
/// and the close delimiter `--boundary--` are all required, or the body is rejected as a whole.
///
/// Standard library and libc only (no Foundation, no NIO) so that `make fuzz-multipart` can build the
/// libFuzzer target from this one file with plain `swiftc`. Parts are returned as byte ranges
/// into the caller's buffer: nothing is copied while parsing.
public enum MultipartFormData {
    /// Bounds on what one body may contain (each violation is an error, never a truncation).
    public struct Limits: Sendable {
        /// Most parts accepted; the first part beyond is `tooManyParts`.
        public var maxParts: Int
        /// Largest header block of one part (bytes, up to and including its blank line).
        public var maxHeaderBytes: Int
        /// Most header lines in one part.
        public var maxHeaderLines: Int

        public init(maxParts: Int = 64, maxHeaderBytes: Int = 8 * 1024, maxHeaderLines: Int = 16) {
            self.maxParts = maxParts
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderLines = maxHeaderLines
        }
    }

    /// One body part: its header lines (name lowercased, value trimmed) and where its content is.
    public struct Part: Sendable, Equatable {
        public var headers: [(name: String, value: String)]
        /// Offsets of the content in the parsed buffer.
        public var content: Range<Int>

        public static func == (a: Part, b: Part) -> Bool {
            a.content == b.content && a.headers.elementsEqual(b.headers) { $0.name == $1.name && $0.value == $1.value }
        }
    }

    /// Why a body was rejected; each says what a client has to fix.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The boundary parameter is missing, empty, over 70 characters or uses characters RFC 2046 forbids.
        case invalidBoundary
        /// The body ended early: no close delimiter, or inside a part's headers or content.
        case truncated(String)
        /// Anything else that does not follow the grammar.
        case malformed(String)
        case tooManyParts(limit: Int)
        case headerTooLarge(limit: Int)

        public var description: String {
            switch self {
            case .invalidBoundary:
                return "the boundary parameter must be 1-70 characters of letters, digits and '()+_,-./:=? (not ending in a space)"
            case let .truncated(detail): return "truncated multipart body: \(detail)"
            case let .malformed(detail): return "malformed multipart body: \(detail)"
            case let .tooManyParts(limit): return "more than \(limit) parts in the multipart body"
            case let .headerTooLarge(limit): return "a part's headers are over \(limit) bytes or lines"
            }
        }
    }

    /// RFC 2046 §5.1.1 `bchars`.
    static func isValidBoundary(_ boundary: [UInt8]) -> Bool {
        guard (1...70).contains(boundary.count), boundary.last != UInt8(ascii: " ") else { return false }
        return boundary.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return true
            default: return "'()+_,-./:=? ".utf8.contains(byte)
            }
        }
    }

    static let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), dash = UInt8(ascii: "-")

    /// Parses a whole body. Returns parts in order or throws; never returns a partial list.
    public static func parse(_ body: UnsafeRawBufferPointer, boundary: String, limits: Limits = Limits()) throws(Failure) -> [Part] {
        let boundaryBytes = Array(boundary.utf8)
        guard isValidBoundary(boundaryBytes) else { throw .invalidBoundary }
        // "--boundary", and the delimiter that ends a part: CRLF "--boundary".
        let dashBoundary = [dash, dash] + boundaryBytes
        let delimiter = [cr, lf] + dashBoundary
        let bytes = body.assumingMemoryBound(to: UInt8.self)
        let count = bytes.count

        func matches(_ pattern: [UInt8], at offset: Int) -> Bool {
            guard offset >= 0, count - offset >= pattern.count else { return false }
            for i in 0..<pattern.count where bytes[offset + i] != pattern[i] { return false }
            return true
        }
        /// First offset ≥ `from` where `pattern` starts (a scan for its first byte, then a compare;
        /// at most 74 bytes compared per candidate, so linear in practice and bounded in the worst case).
        func find(_ pattern: [UInt8], from: Int) -> Int? {
            var i = from
            let last = count - pattern.count
            while i <= last, let base = bytes.baseAddress {
                // memchr finds the candidates at memory speed: a byte-at-a-time loop here cost
                // 0.1-0.2 ms of a 270 kB image, a tenth of a small request's whole answer.
                guard let hit = memchr(base + i, Int32(pattern[0]), last - i + 1) else { return nil }
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if matches(pattern, at: i) { return i }
                i += 1
            }
            return nil
        }
        /// After a delimiter: transport padding (spaces, tabs) then CRLF; returns the offset after it.
        func paddingThenCRLF(from start: Int, _ what: String) throws(Failure) -> Int {
            var i = start
            while i < count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
            guard i < count else { throw .truncated("the body ends right after \(what)") }
            guard matches([cr, lf], at: i) else { throw .malformed("\(what) must be followed by CRLF (the boundary occurs inside the content, or a line ends without CR)") }
            return i + 2
        }

        // Opening delimiter: at the very start, or after a preamble that ends in CRLF.
        let open: Int
        if matches(dashBoundary, at: 0) {
            open = 0
        } else if let found = find(delimiter, from: 0) {
            open = found + 2
        } else {
            throw count == 0 ? .truncated("the body is empty") : .malformed("no opening boundary \"--\(boundary)\"")
        }
        var position = open + dashBoundary.count
        if matches([dash, dash], at: position) { return [] }  // a close delimiter straight away: no parts
        position = try paddingThenCRLF(from: position, "the opening boundary")

        var parts: [Part] = []
        while true {
            guard parts.count < limits.maxParts else { throw .tooManyParts(limit: limits.maxParts) }
            // Header lines up to a blank line.
            var headers: [(name: String, value: String)] = []
            let headerStart = position
            while true {
                guard let lineEnd = find([cr, lf], from: position), lineEnd - headerStart < limits.maxHeaderBytes else {
                    if count - headerStart >= limits.maxHeaderBytes { throw .headerTooLarge(limit: limits.maxHeaderBytes) }
                    throw .truncated("the body ends inside part \(parts.count + 1)'s headers")
                }
                if lineEnd == position {
                    position += 2
                    break
                }
                guard headers.count < limits.maxHeaderLines else { throw .headerTooLarge(limit: limits.maxHeaderLines) }
                headers.append(try header(bytes, position..<lineEnd, part: parts.count + 1))
                position = lineEnd + 2
            }
            // Content up to the next delimiter, which must be a delimiter and not a longer string.
            guard let end = find(delimiter, from: position) else {
                throw .truncated("part \(parts.count + 1) has no closing boundary")
            }
            parts.append(Part(headers: headers, content: position..<end))
            position = end + delimiter.count
            if matches([dash, dash], at: position) {
                // Close delimiter: transport padding, then the end or CRLF and an epilogue (ignored).
                position += 2
                while position < count, bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") { position += 1 }
                guard position == count || matches([cr, lf], at: position) else {
                    throw .malformed("the close delimiter must be followed by CRLF or the end of the body")
                }
                return parts
            }
            guard position < count else {
                throw .truncated("the body ends right after part \(parts.count)'s boundary, with no close delimiter")
            }
            if count - position == 1, bytes[position] == dash { throw .truncated("the body ends inside the close delimiter") }
            position = try paddingThenCRLF(from: position, "a boundary")
        }
    }

    /// `name: value` with a token name (RFC 7230 tchar) and a value free of control characters
    /// other than tab; obsolete line folding is not accepted.
    static func header(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, part: Int) throws(Failure) -> (name: String, value: String) {
        var colon: Int?
        for i in range where bytes[i] == UInt8(ascii: ":") {
            colon = i
            break
        }
        guard let colon, colon > range.lowerBound else { throw .malformed("part \(part) has a header line without a name and ':'") }
        let tchar = "!#$%&'*+-.^_`|~".utf8
        for i in range.lowerBound..<colon {
            let b = bytes[i]
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || tchar.contains(b)
            guard ok else { throw .malformed("part \(part) has an invalid header name") }
        }
        for i in (colon + 1)..<range.upperBound where (bytes[i] < 0x20 && bytes[i] != 0x09) || bytes[i] == 0x7F {
            throw .malformed("part \(part) has a control character in a header value")
        }
        let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[range.lowerBound..<colon]), as: UTF8.self).lowercased()
        var valueBytes = bytes[(colon + 1)..<range.upperBound]
        while let first = valueBytes.first, first == 0x20 || first == 0x09 { valueBytes = valueBytes.dropFirst() }
        while let last = valueBytes.last, last == 0x20 || last == 0x09 { valueBytes = valueBytes.dropLast() }
        return (name, String(decoding: UnsafeBufferPointer(rebasing: valueBytes), as: UTF8.self))
    }
}
