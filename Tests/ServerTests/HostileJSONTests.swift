import Foundation
import Testing
@testable import Server

/// JSON bodies whose parsed form would cost far more than their bytes: deep nesting, millions of
/// tiny items, free-form values (the hyper-parameters patch). Each is refused before a parser
/// builds it, and what was refused changes nothing.
@Suite("Hostile JSON bodies")
struct HostileJSONTests {
    static func shape(_ text: String, maxDepth: Int = 1000, maxItems: Int = 1_000_000) -> JSONShape {
        Array(text.utf8).withUnsafeBytes { JSONShape.scan($0, maxDepth: maxDepth, maxItems: maxItems) }
    }

    @Test("the scan counts nesting and every key and value; brackets and quotes inside strings do not count")
    func scanCounts() {
        let a = Self.shape(#"{"a": [1, 2.5e3, true, null, "x"], "b": {"c": {}}}"#)
        #expect(a.depth == 3 && a.items == 12, "\(a)")  // 4 containers, 3 keys, 5 scalars
        let b = Self.shape(#"["[{\"", "\\", "a\\\"]", {"k": "v\\\\"}]"#)
        #expect(b.depth == 2 && b.items == 7, "\(b)")  // array, 3 strings, object, k, v
        #expect(Self.shape("").items == 0)
        #expect(Self.shape("  17 ").items == 1)
        #expect(Self.shape(#""unterminated \" ["#).items == 1)
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(Self.shape(deep).depth == 40)
        // The scan stops once past a bound, having counted one beyond it.
        #expect(Self.shape(deep, maxDepth: 32).depth == 33)
        let many = "[" + Array(repeating: "\"\"", count: 1000).joined(separator: ",") + "]"
        #expect(Self.shape(many).items == 1001)
        #expect(Self.shape(many, maxItems: 100).items == 101)
    }

    @Test("the item bound covers the largest legal body: every label with its full prompt list")
    func boundCoversLegalBodies() throws {
        let limits = ServerLimits()
        let prompts = (0..<limits.maxPromptsPerLabel).map { "\"a photo \($0)\"" }.joined(separator: ",")
        let labels = (0..<limits.maxLabelsPerStream).map { "\"l\($0)\"" }
        let body = "{\"id\":\"s\",\"labels\":[\(labels.joined(separator: ","))],\"prompts\":{"
            + labels.map { "\($0):[\(prompts)]" }.joined(separator: ",")
            + "},\"templates\":[\((0..<limits.maxPromptsPerLabel).map { _ in "\"{}\"" }.joined(separator: ","))],\"hyperparameters\":{\"stepsPerBatch\":2}}"
        let shape = Self.shape(body)
        #expect(shape.items <= JSONShape.maxItems(limits), "\(shape.items) items, bound \(JSONShape.maxItems(limits))")
        try Array(body.utf8).withUnsafeBytes { try JSONShape.check($0, maxItems: JSONShape.maxItems(limits)) }
    }

    @Test("deep or many-item bodies are refused before parsing, on every JSON route; the stream is unchanged")
    func refusedBeforeParsing() async throws {
        try await TestServer().run { client in
            #expect(try await client.createStream("s").status == .created)
            let before = try await client.stateBytes("s", tag: "before")
            let maxItems = JSONShape.maxItems(ServerLimits())
            func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }

            // Nesting: 400 from 33 levels on (the patch below is 2 levels deeper than its array).
            let deep = try await client.send(.post, "/v1/streams", json: "{\"id\":\"t\",\"labels\":[\"a\"],\"hyperparameters\":{\"x\":\(nested(31))}}")
            #expect(deep.status == .badRequest && deep.errorCode == "bad_request", "\(String(buffer: deep.body))")
            #expect(String(buffer: deep.body).contains("deeper than 32"))
            let shallow = try await client.send(.post, "/v1/streams", json: "{\"id\":\"t\",\"labels\":[\"a\"],\"hyperparameters\":{\"x\":\(nested(30))}}")
            #expect(shallow.status == .unprocessableContent, "unknown field, parsed: \(String(buffer: shallow.body))")

            // Many items: images (the fast path and the general one), labels, a stateless request.
            let empties = Array(repeating: "\"\"", count: maxItems + 10).joined(separator: ",")
            for (what, path, json) in [
                ("images, fast path", "/v1/streams/s/classify", "{\"images\":[\(empties)]}"),
                ("images, general path", "/v1/streams/s/classify", "{\"images\":[\(empties)],\"x\":0}"),
                ("labels", "/v1/streams", "{\"id\":\"u\",\"labels\":[\(empties)]}"),
                ("stateless labels", "/v1/classify", "{\"labels\":[\(empties)],\"images\":[]}"),
            ] {
                let response = try await client.send(.post, path, json: json)
                #expect(response.status == .contentTooLarge && response.errorCode == "too_large", "\(what): \(String(buffer: response.body).prefix(300))")
            }
            // 65 images on the fast path stop at the 65th, as the general path's count does.
            let sixtyFive = Array(repeating: "\"\"", count: 65).joined(separator: ",")
            for json in ["{\"images\":[\(sixtyFive)]}", "{\"images\":[\(sixtyFive)],\"x\":0}"] {
                let response = try await client.send(.post, "/v1/streams/s/classify", json: json)
                #expect(response.status == .contentTooLarge, "\(String(buffer: response.body))")
                #expect(String(buffer: response.body).contains("the limit is 64"), "\(String(buffer: response.body))")
            }

            // Free-form values: a hyper-parameters patch of more than 4096 values is refused by
            // name; the same patch of 4000 values parses (and names the unknown field).
            func patch(_ values: Int) -> String {
                "{\"id\":\"v\",\"labels\":[\"a\"],\"hyperparameters\":{\"x\":[\(Array(repeating: "{}", count: values).joined(separator: ","))]}}"
            }
            let wide = try await client.send(.post, "/v1/streams", json: patch(5000))
            #expect(wide.status == .badRequest, "\(String(buffer: wide.body))")
            #expect(String(buffer: wide.body).contains("more than 4096 values"), "\(String(buffer: wide.body))")
            let fits = try await client.send(.post, "/v1/streams", json: patch(4000))
            #expect(fits.status == .unprocessableContent, "\(String(buffer: fits.body))")
            #expect(String(buffer: fits.body).contains("unknown hyperparameters field \\\"x\\\"") || String(buffer: fits.body).contains("unknown hyperparameters field \"x\""),
                    "\(String(buffer: fits.body))")

            let list = try client.object(try await client.send(.get, "/v1/streams"))
            #expect((list["streams"] as? [[String: Any]])?.count == 1, "no stream created by a refused body")
            #expect(try await client.stateBytes("s", tag: "after") == before, "stream state unchanged")
            try await AdversarialTests.alive(client)
        }
    }
}
