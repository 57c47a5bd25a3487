import Foundation
import Hummingbird
import Testing
@testable import Server

/// The strict parsers on their own (no server): multipart bodies, media types, request heads.
@Suite("Strict request parsing")
struct ParsingTests {
    static func parse(_ body: String, _ boundary: String = "b", limits: MultipartFormData.Limits = .init()) throws -> [String] {
        let bytes = Array(body.utf8)
        return try bytes.withUnsafeBytes { raw in
            try MultipartFormData.parse(raw, boundary: boundary, limits: limits).map { String(decoding: raw[$0.content], as: UTF8.self) }
        }
    }

    @Test("complete bodies: parts, empty parts, preamble, padding, epilogue, headers")
    func multipartComplete() throws {
        #expect(try Self.parse("--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--") == ["one", "two"])
        #expect(try Self.parse("preamble\r\n--b \t\r\n\r\n\r\n--b-- \r\nepilogue") == [""])
        #expect(try Self.parse("--b\r\n\r\nhas --b inside and \r\n-b too\r\n--b--\r\n") == ["has --b inside and \r\n-b too"])
        #expect(try Self.parse("--b--") == [])
        let bytes = Array("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--".utf8)
        let part = try bytes.withUnsafeBytes { try MultipartFormData.parse($0, boundary: "b") }
        #expect(part.first?.headers.first?.name == "content-disposition")
        #expect(part.first?.headers.first?.value == "form-data; name=\"x\"")
    }

    @Test("every truncation of a complete body is rejected, never a shorter list of parts")
    func multipartTruncations() throws {
        let whole = "--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--"
        for cut in 0..<whole.utf8.count {
            let prefix = String(decoding: Array(whole.utf8).prefix(cut), as: UTF8.self)
            #expect(throws: MultipartFormData.Failure.self, "cut at \(cut)") { try Self.parse(prefix) }
        }
    }

    @Test("malformed bodies and limits")
    func multipartMalformed() throws {
        for (body, expected) in [
            ("--b\r\n\r\nx\r\n--bX\r\n\r\ny\r\n--b--", "malformed"),  // the boundary inside content
            ("--b\r\nno colon\r\n\r\nx\r\n--b--", "malformed"),
            ("--b\r\n: empty name\r\n\r\nx\r\n--b--", "malformed"),
            ("--b\r\nA\u{1}: v\r\n\r\nx\r\n--b--", "malformed"),
            ("--b\r\nA: v\u{0}\r\n\r\nx\r\n--b--", "malformed"),
            ("--b\nA: 1\n\nx\n--b--", "malformed"),  // bare LF
            ("hello", "malformed"),
            ("--b\r\n\r\nx\r\n--b--junk", "malformed"),
        ] {
            do {
                _ = try Self.parse(body)
                Issue.record("accepted \(body.debugDescription)")
            } catch {
                #expect("\(error)".contains(expected), "\(body.debugDescription): \(error)")
            }
        }
        #expect(throws: MultipartFormData.Failure.tooManyParts(limit: 2)) {
            try Self.parse("--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--", limits: .init(maxParts: 2))
        }
        #expect(throws: MultipartFormData.Failure.headerTooLarge(limit: 16)) {
            try Self.parse("--b\r\nA: \(String(repeating: "v", count: 40))\r\n\r\nx\r\n--b--", limits: .init(maxHeaderBytes: 16))
        }
        for boundary in ["", String(repeating: "a", count: 71), "ends in space ", "bad\"quote", "new\r\nline"] {
            #expect(throws: MultipartFormData.Failure.invalidBoundary) { try Self.parse("--b--", boundary) }
        }
    }

    @Test("media types: exact type and subtype, parameters parsed")
    func mediaTypes() {
        #expect(ContentType("application/json")?.is(ContentType.json) == true)
        #expect(ContentType("Application/JSON ; charset=UTF-8")?.is(ContentType.json) == true)
        #expect(ContentType("application/json;")?.is(ContentType.json) == true)
        for text in ["application/jsonp", "application/json-seq", "application/json garbage", "application/json; charset", "application/", "json", ""] {
            #expect(ContentType(text)?.is(ContentType.json) != true, "\(text)")
        }
        let form = ContentType("multipart/form-data; boundary=\"a b:c\"; Charset=utf-8")
        #expect(form?.is(ContentType.formData) == true)
        #expect(form?.parameters == ["boundary": "a b:c", "charset": "utf-8"])
        #expect(ContentType("multipart/form-data; boundary=AbC")?.parameters["boundary"] == "AbC", "boundary case kept")
        #expect(ContentType("multipart/form-dataX; boundary=a")?.is(ContentType.formData) == false)
        #expect(ContentType("multipart/form-data; boundary=a; boundary=b") == nil, "a repeated parameter is ambiguous")
        #expect(ContentType("multipart/form-data; boundary=\"unterminated") == nil)
    }

    @Test("request head scanner: request line and header limits, leading empty lines")
    func headScanner() {
        func scan(_ chunks: [String], line: Int = 20, headers: Int = 30) -> (HeadScanner.Verdict, Bool) {
            var scanner = HeadScanner()
            for chunk in chunks {
                var buffer = ByteBuffer(string: chunk)
                let verdict = scanner.scan(buffer.readableBytesView, maxRequestLine: line, maxHeaders: headers)
                buffer.clear()
                if verdict != .fine { return (verdict, scanner.isComplete) }
            }
            return (.fine, scanner.isComplete)
        }
        #expect(scan(["GET / HTTP/1.1\r\nHost: x\r\n\r\n"]) == (.fine, true))
        #expect(scan(["GET / HT", "TP/1.1\r\nHo", "st: x\r\n", "\r", "\n"]) == (.fine, true))
        #expect(scan(["\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"]) == (.fine, true))
        #expect(scan(["GET / HTTP/1.1\r\nHost: x\r\n"]) == (.fine, false))
        #expect(scan(["GET /\(String(repeating: "a", count: 20)) HTTP/1.1\r\n\r\n"]).0 == .requestLineTooLong)
        #expect(scan(["GET / HTTP/1.1\r\n", "A: \(String(repeating: "a", count: 30))\r\n\r\n"]).0 == .headersTooLarge)
    }
}
