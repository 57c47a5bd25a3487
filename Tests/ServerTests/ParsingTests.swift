import CBase64
import Foundation
import Hummingbird
import RadaNumerics
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
        // Transfer codings: `chunked` alone passes (any case, white space around it), anything
        // else is refused from the head, also when the line arrives in pieces.
        for value in ["chunked", "Chunked", " \tCHUNKED "] {
            #expect(scan(["POST / HTTP/1.1\r\nTransfer-Encoding:\(value)\r\n\r\n"], headers: 200) == (.fine, true), "\(value)")
        }
        for (value, coding) in [("gzip", "gzip"), (" gzip, chunked", "gzip, chunked"), ("identity", "identity"), ("", "")] {
            #expect(scan(["POST / HTTP/1.1\r\ntransfer-ENCODING: \(value)\r\n\r\n"], headers: 200).0 == .unsupportedTransferCoding(coding), "\(value)")
        }
        #expect(scan(["POST / HTTP/1.1\r\nTransfer-Enc", "oding: gz", "ip\r", "\n\r\n"], headers: 200).0 == .unsupportedTransferCoding("gzip"))
        #expect(scan(["POST / HTTP/1.1\r\nX-Transfer-Encoding: gzip\r\nTransfer-Encodings: gzip\r\n\r\n"], headers: 200) == (.fine, true))
    }
}

/// The JSON image list's fast path against the general one (`JSONDecoder` and Foundation's base64).
@Suite("JSON image bodies")
struct JSONImageListTests {
    static func fast(_ body: [UInt8]) -> [Data]? { body.withUnsafeBytes(JSONImageList.files) }
    /// The general path's files, before the request's image count is checked.
    static func general(_ body: [UInt8]) -> [Data]? {
        struct Images: Decodable { var images: [String] }
        guard let request = try? JSONDecoder().decode(Images.self, from: Data(body)) else { return nil }
        return try? ImageInput.base64(request.images)
    }

    /// Whenever the fast path answers, the general path must give the same files.
    static func expectAgreement(_ body: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let fast = fast(body) else { return }
        #expect(fast == general(body), "\(String(decoding: body.prefix(80), as: UTF8.self))", sourceLocation: sourceLocation)
    }

    @Test("the shapes clients send take the fast path and give the general path's files")
    func fastShapes() throws {
        var generator = SystemRandomNumberGenerator()
        let files = (0..<5).map { n in Data((0..<(n * 37 + 1)).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        let encoded = files.map { "\"\($0.base64EncodedString())\"" }
        for body in [
            "{\"images\":[\(encoded[0])]}", "{\"images\": [\(encoded.joined(separator: ", "))]}",
            " \n{ \"images\" :\t[ \(encoded[1]) ,\r\n\(encoded[2]) ] } \n", "{\"images\":[]}",
        ] {
            let bytes = Array(body.utf8)
            let fast = try #require(Self.fast(bytes), "\(body.prefix(60)) should take the fast path")
            #expect(fast == Self.general(bytes))
        }
        #expect(Self.fast(Array("{\"images\":[\(encoded.joined(separator: ","))]}".utf8)) == files)
    }

    @Test("anything else is left to the general path: escapes, prefixes, spaces, other keys, bad base64")
    func slowShapes() {
        let a = Data("hello world".utf8).base64EncodedString()  // aGVsbG8gd29ybGQ=
        for body in [
            "{\"images\":[\"\\u0061GVsbG8gd29ybGQ=\"]}", "{\"images\":[\"data:image/png;base64,\(a)\"]}",
            "{\"images\":[\"aGVs\\nbG8gd29ybGQ=\"]}", "{\"images\":[\"aGVs bG8gd29ybGQ=\"]}", "{\"images\":[\"\(a)\"],\"x\":1}",
            "{\"x\":1,\"images\":[\"\(a)\"]}", "{\"images\":[\"\(a)\"],\"images\":[]}", "{\"imag\\u0065s\":[\"\(a)\"]}",
            "{\"images\":[\"aGVsbG8gd29ybGQ\"]}", "{\"images\":[\"QUJ\"]}",
            "{\"images\":[\"aGVs_G8-d29ybGQ=\"]}", "{\"images\":[\"\(a)\"]} x", "{\"images\":[\"\(a)\",]}", "{\"images\":[\"\(a)\"]",
            "\u{FEFF}{\"images\":[\"\(a)\"]}", "[\"\(a)\"]", "{\"images\":\"\(a)\"}", "",
        ] {
            #expect(Self.fast(Array(body.utf8)) == nil, "\(body)")
        }
        // Strings Foundation's decoder tolerates stay in the fast path, with its answer.
        for text in ["QQ=A", "QQ=A=", "====", ""] {
            let body = Array("{\"images\":[\"\(text)\"]}".utf8)
            #expect(Self.fast(body) != nil && Self.fast(body) == Self.general(body), "\(text)")
        }
    }

    @Test("base64 text: the AVX2 decoder gives Foundation's bytes at every length, declines what is not canonical",
          .enabled(if: PackedMatrix.Kernel.avx2.isAvailable, "this CPU has no AVX2 (the JSON path then always uses Foundation's decoder)"))
    func vectorBase64() {
        var generator = SystemRandomNumberGenerator()
        func fast(_ text: [UInt8]) -> Data? {
            var out = [UInt8](repeating: 0, count: rada_base64_capacity(text.count))
            let n = rada_base64_decode(text, text.count, &out)
            return n < 0 ? nil : Data(out.prefix(n))
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var declined = 0, corrupted = 0
        for length in 1...400 {
            let file = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let text = Array(file.base64EncodedString().utf8)
            #expect(fast(text) == file, "\(length) bytes")
            #expect(text.withUnsafeBytes { JSONImageList.decode($0.baseAddress!, count: $0.count) } == file)
            // One character replaced by any byte: either still canonical text (then both agree)
            // or declined, and Foundation decides.
            var bad = text
            let at = Int.random(in: 0..<bad.count, using: &generator)
            bad[at] = UInt8.random(in: 0...255, using: &generator)
            let theirs = Data(base64Encoded: Data(bad))
            if let mine = fast(bad) { #expect(mine == theirs, "\(String(decoding: bad, as: UTF8.self))") } else { declined += 1 }
            if !alphabet.contains(bad[at]) { corrupted += 1 }
            #expect(bad.withUnsafeBytes { JSONImageList.decode($0.baseAddress!, count: $0.count) } == theirs)
        }
        #expect(declined >= corrupted - 10, "bytes outside the alphabet are declined")
        // Not canonical: no padding, padding inside, bits after the last byte, empty.
        for text in ["QUJ", "QQ=A", "QQ==QUJD", "QR==", "QUI=QUJD", ""] { #expect(fast(Array(text.utf8)) == nil, "\(text)") }
    }

    @Test("mutated bodies: whenever the fast path answers, it agrees with the general path")
    func mutations() {
        var generator = SystemRandomNumberGenerator()
        let files = (0..<3).map { n in Data((0..<(n * 11 + 5)).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        let valid = Array("{\"images\": [\(files.map { "\"\($0.base64EncodedString())\"" }.joined(separator: ","))]}".utf8)
        let alphabet = Array("{}[]\":, \n\\=AQZaz09+/imagesx".utf8)
        var fastAnswers = 0
        for _ in 0..<5_000 {
            var body = valid
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0...body.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0 where at < body.count: body[at] = alphabet.randomElement(using: &generator)!
                case 1 where at < body.count: body.remove(at: at)
                default: body.insert(alphabet.randomElement(using: &generator)!, at: at)
                }
            }
            if Self.fast(body) != nil { fastAnswers += 1 }
            Self.expectAgreement(body)
        }
        #expect(fastAnswers > 50, "the mutations should sometimes stay in the fast path's subset")
    }
}
