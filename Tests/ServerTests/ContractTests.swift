import Adaptation
import Foundation
import Hummingbird
import Logging
import StreamStore
import Testing
import Yams
@testable import Server

/// The OpenAPI document against the server: the route table (operations, parameters, body media
/// types, statuses, security) and the limits and policy bounds the server enforces. What the
/// server really answers is checked by `make conformance` (schemathesis against a live server).
@Suite("Contract")
struct ContractTests {
    typealias Object = [String: Any]

    /// Parsed once and never mutated (`[String: Any]` cannot be `Sendable`).
    nonisolated(unsafe) static let document: Object = {
        // The document is a compile-time constant: failing to parse it is a test failure below.
        (try? Yams.load(yaml: OpenAPIDocument.yaml) as? Object) ?? [:]
    }()

    static let endpoints: [Routes.Endpoint] = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rada-contract-\(UUID().uuidString)")
        let service = StreamService(
            configuration: ServerConfiguration(dataDirectory: directory), backend: TestServer.backend, metrics: ServerMetrics(),
            logger: Logger(label: "rada.test"))
        return Routes(service: service, readiness: Readiness()).endpoints()
    }()

    static let methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    /// One operation of the document, its path-level parameters merged in.
    struct Operation {
        var method: String
        var path: String
        var object: Object
        var parameters: [Object]
    }

    static func resolve(_ value: Any?) -> Object {
        guard let object = value as? Object else { return [:] }
        guard let reference = object["$ref"] as? String, reference.hasPrefix("#/") else { return object }
        var node: Any? = document
        for part in reference.dropFirst(2).split(separator: "/") { node = (node as? Object)?[String(part)] }
        return resolve(node)
    }

    static var operations: [Operation] {
        let paths = document["paths"] as? Object ?? [:]
        return paths.flatMap { path, item -> [Operation] in
            let item = item as? Object ?? [:]
            let shared = (item["parameters"] as? [Any] ?? []).map(resolve)
            return methods.compactMap { method in
                guard let object = item[method] as? Object else { return nil }
                return Operation(method: method.uppercased(), path: path, object: object, parameters: shared + (object["parameters"] as? [Any] ?? []).map(resolve))
            }
        }
    }

    static func key(_ endpoint: Routes.Endpoint) -> String {
        let path = endpoint.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        return "\(endpoint.method.rawValue) /\(path)"
    }

    static func endpoint(for operation: Operation) throws -> Routes.Endpoint {
        try #require(endpoints.first { key($0) == "\(operation.method) \(operation.path)" }, "no route for \(operation.method) \(operation.path)")
    }

    @Test("The document parses, and its operations are exactly the route table's")
    func operationsMatch() throws {
        #expect(Self.document["openapi"] as? String == "3.1.0")
        let documented = Set(Self.operations.map { "\($0.method) \($0.path)" })
        let routed = Set(Self.endpoints.map(Self.key))
        #expect(documented.count == 21)
        #expect(documented.subtracting(routed).isEmpty, "documented, not routed: \(documented.subtracting(routed).sorted())")
        #expect(routed.subtracting(documented).isEmpty, "routed, not documented: \(routed.subtracting(documented).sorted())")
        #expect(Set(Self.operations.compactMap { $0.object["operationId"] as? String }).count == documented.count, "one operationId each")
    }

    @Test("Parameters, body media types, statuses and security of every operation match the route table")
    func operationShapesMatch() throws {
        for operation in Self.operations {
            let endpoint = try Self.endpoint(for: operation)
            let label = "\(operation.method) \(operation.path)"
            let inPath = operation.parameters.filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String }
            let inQuery = operation.parameters.filter { $0["in"] as? String == "query" }.compactMap { $0["name"] as? String }
            #expect(inPath == endpoint.pathParameters, "\(label): path parameters")
            #expect(Set(inQuery) == Set(endpoint.query), "\(label): query parameters")
            let body = Self.resolve(operation.object["requestBody"])
            #expect(Set((body["content"] as? Object ?? [:]).keys) == Set(endpoint.accepts), "\(label): request media types")
            if !endpoint.accepts.isEmpty { #expect(body["required"] as? Bool == true, "\(label): body required") }
            let statuses = Set((operation.object["responses"] as? Object ?? [:]).keys.compactMap { Int($0) })
            #expect(statuses == endpoint.statuses,
                    "\(label): documented \(statuses.sorted()), server \(endpoint.statuses.sorted())")
            let isPublic = (operation.object["security"] as? [Any])?.isEmpty == true
            #expect(isPublic == endpoint.isPublic, "\(label): security")
        }
    }

    @Test("Every error response of the document has the shared error schema, with the headers the server sends")
    func errorResponses() throws {
        for operation in Self.operations {
            for (status, response) in operation.object["responses"] as? Object ?? [:] {
                guard let code = Int(status), code >= 400 else { continue }
                let response = Self.resolve(response)
                let content = response["content"] as? Object ?? [:]
                let schema = ((content["application/json"] as? Object)?["schema"] as? Object) ?? [:]
                let refs = [schema["$ref"] as? String] + ((schema["oneOf"] as? [Object]) ?? []).map { $0["$ref"] as? String }
                #expect(refs.contains("#/components/schemas/Error"), "\(operation.method) \(operation.path) \(status)")
                let headers = Set((response["headers"] as? Object ?? [:]).keys)
                if code == 401 { #expect(headers.contains("WWW-Authenticate"), "\(operation.path) 401") }
                if code == 429 { #expect(headers.contains("Retry-After"), "\(operation.path) 429") }
            }
        }
        // The error codes the document lists are the ones the server's error type produces.
        let error = try #require(Self.schema("Error")["properties"] as? Object)
        let detail = try #require((error["error"] as? Object)?["properties"] as? Object)
        let codes = Set(((detail["code"] as? Object)?["enum"] as? [String]) ?? [])
        let produced: [APIError] = [
            .badRequest(""), .unauthorized(""), .notFound(""), .methodNotAllowed(allowed: [.get]), .requestTimeout(""),
            .uriTooLong(limit: 1), .conflict(""), .quotaExceeded(""), .tooLarge(""), .unsupportedMediaType(""), .unprocessable(""), .queueFull(""),
            .headersTooLarge(limit: 1), .unavailable(""), .quarantined(id: "s", reason: ""), .internal(""),
            .from(StreamStoreError.fenced), .from(StreamStoreError.unavailable("")),
        ]
        #expect(codes == Set(produced.map(\.code)))
    }

    static func schema(_ name: String) -> Object {
        resolve(((document["components"] as? Object)?["schemas"] as? Object)?[name])
    }

    static func number(_ object: Object, _ key: String) -> Double? {
        (object[key] as? Double) ?? (object[key] as? Int).map(Double.init)
    }

    @Test("The document's limits are the server's defaults")
    func limitsMatch() throws {
        let limits = ServerLimits()
        let labels = Self.schema("Labels"), label = Self.schema("Label"), templates = Self.schema("Templates"), prompts = Self.schema("Prompts")
        #expect(labels["maxItems"] as? Int == limits.maxLabelsPerStream)
        #expect(prompts["maxProperties"] as? Int == limits.maxLabelsPerStream)
        #expect((prompts["additionalProperties"] as? Object)?["maxItems"] as? Int == limits.maxPromptsPerLabel)
        #expect(((prompts["additionalProperties"] as? Object)?["items"] as? Object)?["maxLength"] as? Int == StreamService.maxPromptScalars)
        #expect(templates["maxItems"] as? Int == limits.maxPromptsPerLabel)
        #expect((templates["items"] as? Object)?["maxLength"] as? Int == StreamService.maxPromptScalars)
        #expect(label["maxLength"] as? Int == StreamService.maxLabelScalars)
        let images = Self.schema("ImageList")
        #expect(images["maxItems"] as? Int == limits.maxImagesPerRequest)
        let top = Self.resolve(((Self.document["components"] as? Object)?["parameters"] as? Object)?["Top"])
        #expect((top["schema"] as? Object)?["maximum"] as? Int == limits.maxTop)
    }

    @Test("The Name pattern accepts exactly the identifiers the server accepts")
    func namePatternMatches() throws {
        let pattern = try #require(Self.schema("Name")["pattern"] as? String)
        let regex = try NSRegularExpression(pattern: pattern)
        let candidates = [
            "a", "s1", "shop-1", "after_1.v2", "-x", "_", "0", ".hidden", ".", "..", "a..b", "a.", "", "a/b", "a b", "é", "a%2F",
            String(repeating: "x", count: 64), String(repeating: "x", count: 65), "a\n", "\u{212A}", "ｆｕｌｌ",
        ]
        for candidate in candidates {
            // The whole string, as ECMA-262 reads `$` (ICU's also matches before a final newline).
            let whole = NSRange(candidate.startIndex..., in: candidate)
            let matches = regex.firstMatch(in: candidate, range: whole)?.range == whole
            #expect(matches == Identifier.isValid(candidate), "\(candidate.debugDescription): pattern \(matches)")
        }
    }

    /// Every numeric bound of `HyperparametersPatch`, tried through the server's own resolution:
    /// the bound itself is accepted, one step beyond it refused (422); `null` is accepted exactly
    /// where the document allows it.
    @Test("Hyperparameters: fields are the stream's adaptation settings, and every documented bound is the server's")
    func hyperparameterBoundsMatch() throws {
        let patch = Self.schema("HyperparametersPatch")
        let properties = try #require(patch["properties"] as? Object)
        #expect(patch["additionalProperties"] as? Bool == false)
        let defaults = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(RAdaHyperparameters())) as? Object)
        #expect(Set(properties.keys) == Set(defaults.keys))
        var tried = 0, nullsTried = 0
        func check(_ path: [String], _ schema: Object) throws {
            if let nested = schema["properties"] as? Object {
                if let defaultsHere = path.reduce(defaults as Any?, { ($0 as? Object)?[$1] }) as? Object {
                    #expect(Set(defaultsHere.keys).isSubset(of: nested.keys), "\(path): every field documented")
                }
                for (name, child) in nested { try check(path + [name], child as? Object ?? [:]) }
                return
            }
            let types = (schema["type"] as? [String]) ?? [(schema["type"] as? String) ?? ""]
            let name = path.joined(separator: ".")
            func patch(_ value: JSONValue) -> JSONValue {
                path.reversed().reduce(value) { inner, key in .object([key: inner]) }
            }
            if types.contains("null") {
                #expect((try? RAdaHyperparameters.resolving(patch(.null))) != nil, "\(name) = null")
            } else {
                #expect(throws: APIError.self, "\(name) = null") { try RAdaHyperparameters.resolving(patch(.null)) }
            }
            nullsTried += 1
            guard types.contains("number") || types.contains("integer") else { return }
            let integer = types.contains("integer")
            func value(_ x: Double) -> JSONValue { integer ? .integer(Int(x)) : .number(x) }
            if let minimum = Self.number(schema, "minimum") {
                #expect((try? RAdaHyperparameters.resolving(patch(value(minimum)))) != nil, "\(name) = minimum \(minimum)")
                let below = integer ? minimum - 1 : (minimum == 0 ? -1e-9 : minimum * 0.5)
                #expect(throws: APIError.self, "\(name) = \(below)") { try RAdaHyperparameters.resolving(patch(value(below))) }
                tried += 1
            }
            if let maximum = Self.number(schema, "maximum") {
                #expect((try? RAdaHyperparameters.resolving(patch(value(maximum)))) != nil, "\(name) = maximum \(maximum)")
                let above = integer ? maximum + 1 : (maximum < 1 ? (maximum + 1) / 2 : maximum * 1.001)
                #expect(throws: APIError.self, "\(name) = \(above)") { try RAdaHyperparameters.resolving(patch(value(above))) }
                tried += 1
            }
        }
        try check([], patch)
        #expect(tried == 106)
        #expect(nullsTried == 60)
    }

    /// The fields a patch may name are the document's, at every depth, and the server refuses
    /// (422, naming the path) a field it does not have at every depth, where the settings'
    /// decoders alone would drop it without a word.
    @Test("Hyperparameters: the fields the server knows are the document's at every depth; an unknown one anywhere is a 422 that names it")
    func hyperparameterFieldsMatch() throws {
        func tree(_ schema: Object) -> FieldTree {
            FieldTree(fields: ((schema["properties"] as? Object) ?? [:]).mapValues { tree($0 as? Object ?? [:]) })
        }
        let documented = tree(Self.schema("HyperparametersPatch"))
        #expect(documented == RAdaHyperparameters.fieldTree)
        #expect(documented.fields.count == 14 && documented.fields["stepGate"]?.fields.count == 4 && documented.fields["domainMemory"]?.fields.count == 7)
        var objects = 0
        func check(_ path: [String], _ node: FieldTree) throws {
            guard !node.fields.isEmpty else { return }
            let schema = path.reduce(Self.schema("HyperparametersPatch")) { (($0["properties"] as? Object)?[$1] as? Object) ?? [:] }
            #expect(schema["additionalProperties"] as? Bool == false, "\(path)")
            let unknown = path + ["notAField"]
            let patch = unknown.reversed().reduce(JSONValue.integer(1)) { inner, key in .object([key: inner]) }
            #expect { try RAdaHyperparameters.resolving(patch) } throws: { error in
                guard let error = error as? APIError, error.status == .unprocessableContent else { return false }
                let message = error.message
                return message.contains("\"\(unknown.joined(separator: "."))\"") && node.fields.keys.allSatisfy { message.contains($0) }
            }
            objects += 1
            for (name, child) in node.fields { try check(path + [name], child) }
        }
        try check([], RAdaHyperparameters.fieldTree)
        #expect(objects == 9)
        // A known field beside an unknown one does not hide it.
        #expect(throws: APIError.self) { try RAdaHyperparameters.resolving(.object(["stepGate": .object(["ungatedShare": .number(0.5), "coverageThreshold": .number(0.6)])])) }
    }

    /// Requests the document allows that the server once refused, and the reverse, each found
    /// by `make conformance` or by reading the document against the code.
    @Test("Every integer query parameter is bounded on both sides within what the server parses (Int)")
    func integerParametersBounded() throws {
        var checked = 0
        for operation in Self.operations {
            for parameter in operation.parameters where parameter["in"] as? String == "query" {
                let schema = Self.resolve(parameter["schema"])
                guard schema["type"] as? String == "integer" else { continue }
                let name = "\(operation.method) \(operation.path) \(parameter["name"] ?? "?")"
                let low = try #require(Self.number(schema, "minimum"), "\(name): no minimum")
                let high = try #require(Self.number(schema, "maximum"), "\(name): no maximum (a larger number would be a 400 the document allows)")
                #expect(low >= Double(Int.min) && high <= Double(Int.max), "\(name)")
                checked += 1
            }
        }
        #expect(checked >= 3)  // top on two operations, since and limit
    }

    @Test("hyperparameters and its deprecated alias policy: the document forbids both at once, as the server does")
    func aliasExclusive() throws {
        let forbidden = Self.resolve(Self.schema("CreateStream")["not"])
        #expect(forbidden["required"] as? [String] == ["hyperparameters", "policy"])
    }

    @Test("Over a live socket: what the document allows is taken, what it forbids is refused", arguments: TestStore.available)
    func documentedEdges(store: TestStore) async throws {
        try await TestServer.on(store).run { client in
            func create(_ json: String) async throws -> (Int, String?) {
                let reply = try await client.send(.post, "/v1/streams", json: json)
                return (Int(reply.status.code), reply.errorCode)
            }
            let combining = String(repeating: "e\u{301}", count: 100)
            let accepted = [
                #"{"labels": ["a"], "templates": ["{}\ud83c\udffb"]}"#,  // "{}" then an emoji modifier: one Character "}🏻"
                #"{"labels": [" ", "\n"]}"#,  // labels are 1-200 characters, whitespace or not
                "{\"labels\": [\"\(combining)\"]}",  // 200 Unicode scalars, 100 Characters
                #"{"labels": ["Bag", "Sneaker"], "prompts": {"Bag": ["a handbag"]}}"#,  // Sneaker: the templates
                #"{"labels": ["a"], "hyperparameters": {"objective": {"confidenceThreshold": null}, "optimizer": {"learningRate": null}}}"#,
                #"{"labels": ["a"], "policy": {"stepsPerBatch": 2}}"#,  // the deprecated alias of hyperparameters
                #"{"labels": ["a"], "seed": 9223372036854775807}"#,
            ]
            for json in accepted { #expect(try await create(json).0 == 201, "\(json)") }
            let refused: [(String, Int, String)] = [
                ("{\"labels\": [\"\(combining)x\"]}", 422, "unprocessable"),  // 201 scalars
                (#"{"labels": null, "prompts": {"a": ["x"]}}"#, 400, "bad_request"),
                (#"{"labels": ["a"], "templates": null}"#, 400, "bad_request"),
                (#"{"templates": ["{}"]}"#, 400, "bad_request"),
                (#"{"labels": ["a"], "prompts": {"a": []}}"#, 422, "unprocessable"),
                (#"{"labels": ["a"], "prompts": {"": ["x"]}}"#, 422, "unprocessable"),
                (#"{"labels": ["a"], "templates": ["no placeholder"]}"#, 422, "unprocessable"),
                (#"{"labels": ["a"], "hyperparameters": {"objective": {"zeroShotAnchorWeight": null}}}"#, 422, "unprocessable"),
                (#"{"labels": ["a"], "hyperparameters": {"replayImages": null}}"#, 422, "unprocessable"),
                (#"{"labels": ["a"], "policy": {"replayImages": null}}"#, 422, "unprocessable"),
                (#"{"labels": ["a"], "hyperparameters": {}, "policy": {}}"#, 400, "bad_request"),  // the name and its alias
                (#"{"labels": ["a"], "seed": -1}"#, 400, "bad_request"),
                (#"{"labels": ["a"], "seed": 9223372036854775808}"#, 400, "bad_request"),
            ]
            for (json, status, code) in refused {
                let (got, gotCode) = try await create(json)
                #expect(got == status && gotCode == code, "\(json): \(got) \(gotCode ?? "-")")
            }
            _ = try await client.createStream("s")
            let image = Client.imagesJSON([PNGWriter.sample(1)])
            for (query, status) in [("adapt=false", 200), ("adapt=true", 200), ("adapt=1", 400), ("adapt=yes", 400), ("top=0", 400), ("top=101", 400)] {
                #expect(try await client.send(.post, "/v1/streams/s/classify?\(query)", json: image).status.code == status, "\(query)")
            }
            for (query, status) in [("since=9223372036854775807", 200), ("since=9223372036854775808", 400), ("since=-1", 400), ("limit=1000", 200), ("limit=1001", 400)] {
                #expect(try await client.send(.get, "/v1/streams/s/history?\(query)").status.code == status, "\(query)")
            }
        }
    }

    @Test("Every route Docs/api.md names is an operation of the document")
    func apiPageRoutesExist() throws {
        let page = try String(contentsOf: Self.docsURL("api.md"), encoding: .utf8)
        let documented = Set(Self.operations.map { "\($0.method) \($0.path)" })
        let regex = try NSRegularExpression(pattern: #"\b(GET|POST|PUT|DELETE|PATCH)\s+((?:/|\.\.\./)[A-Za-z0-9_.{}/-]*)"#)
        var named = Set<String>()
        for match in regex.matches(in: page, range: NSRange(page.startIndex..., in: page)) {
            let method = String(page[Range(match.range(at: 1), in: page)!])
            var path = String(page[Range(match.range(at: 2), in: page)!])
            // "POST .../checkpoints" abbreviates a stream's path.
            if path.hasPrefix("...") { path = "/v1/streams/{id}" + path.dropFirst(3) }
            while path.count > 1, path.hasSuffix(".") || path.hasSuffix("/") { path.removeLast() }
            named.insert("\(method) \(path)")
        }
        #expect(named.count >= 12, "\(named.sorted())")
        #expect(named.subtracting(documented).isEmpty, "in api.md, not in the document: \(named.subtracting(documented).sorted())")
    }

    static func docsURL(_ name: String) -> URL {
        Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Docs/\(name)")
    }
}
