/// A parsed `Content-Type` value: `type/subtype` plus `; name=value` parameters (RFC 9110 §8.3.1).
///
/// The one place request bodies are matched by media type. A prefix match let
/// `application/jsonp` pass as JSON and `multipart/form-dataX` as multipart; here the type and
/// subtype must equal the expected ones (case-insensitively) and parameters such as `charset`
/// are allowed but parsed, so junk after the subtype is a mismatch, not a match.
struct ContentType: Equatable, Sendable {
    /// Lowercased.
    var type: String
    /// Lowercased.
    var subtype: String
    /// Names lowercased, values unquoted (case kept: a multipart boundary is case-sensitive).
    var parameters: [String: String]

    static let json = (type: "application", subtype: "json")
    static let formData = (type: "multipart", subtype: "form-data")
    static let octetStream = (type: "application", subtype: "octet-stream")

    /// nil when `text` is not a syntactically valid media type.
    init?(_ text: String) {
        var rest = Substring(text)
        func token(_ s: inout Substring) -> String? {
            let name = s.prefix { Self.isTokenCharacter($0) }
            guard !name.isEmpty else { return nil }
            s = s.dropFirst(name.count)
            return String(name)
        }
        func skipSpace(_ s: inout Substring) { s = s.drop { $0 == " " || $0 == "\t" } }
        skipSpace(&rest)
        guard let type = token(&rest)?.lowercased(), rest.first == "/" else { return nil }
        rest = rest.dropFirst()
        guard let subtype = token(&rest)?.lowercased() else { return nil }
        var parameters: [String: String] = [:]
        while true {
            skipSpace(&rest)
            guard !rest.isEmpty else { break }
            guard rest.first == ";" else { return nil }
            rest = rest.dropFirst()
            skipSpace(&rest)
            if rest.isEmpty { break }  // a trailing ";" is tolerated by RFC 9110's grammar
            guard let name = token(&rest)?.lowercased(), rest.first == "=" else { return nil }
            rest = rest.dropFirst()
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var closed = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if c == "\"" { closed = true; break }
                    if c == "\\" {
                        guard let escaped = rest.first else { return nil }
                        value.append(escaped)
                        rest = rest.dropFirst()
                    } else {
                        value.append(c)
                    }
                }
                guard closed else { return nil }
            } else {
                guard let plain = token(&rest) else { return nil }
                value = plain  // case kept: boundaries are case-sensitive
            }
            guard parameters[name] == nil else { return nil }  // a repeated parameter is ambiguous
            parameters[name] = value
        }
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// Whether this is exactly `expected` (parameters aside).
    func `is`(_ expected: (type: String, subtype: String)) -> Bool {
        type == expected.type && subtype == expected.subtype
    }

    /// RFC 9110 `tchar`.
    static func isTokenCharacter(_ c: Character) -> Bool {
        guard let ascii = c.asciiValue else { return false }
        switch ascii {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(ascii)
        }
    }

    /// The request's media type when it is exactly `expected`, otherwise a 415 naming what to send.
    static func require(_ header: String?, _ expected: (type: String, subtype: String), hint: String) throws -> ContentType {
        guard let header, let media = ContentType(header), media.is(expected) else {
            throw APIError.unsupportedMediaType("\(hint), not \"\((header ?? "no content type").prefix(100))\"")
        }
        return media
    }
}
