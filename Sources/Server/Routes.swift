import Foundation
import Hummingbird
import NIOCore
import StreamStore

/// The HTTP surface: parses requests, calls `StreamService`, encodes JSON.
struct Routes: Sendable {
    let service: StreamService
    let readiness: Readiness

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// A classify answer, written without `JSONEncoder` where it can be (the same bytes).
    static func json(_ value: ClassifyResponse) throws -> Response {
        guard let bytes = value.encodedJSON() else { return try json(value, status: .ok) }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    var limits: ServerLimits { service.limits }

    /// Bytes of a download read from the store and handed to the connection at a time.
    static let partBytes = 256 * 1024

    /// A checkpoint written a part at a time, each read from the store only once the connection
    /// has taken the last: a download holds one part in memory, and its request stays in
    /// flight (the connection busy) until the client has read all but the last parts. As one
    /// buffer it sat whole in the channel's queue however slowly the client read.
    func streamed(_ reader: any CheckpointReader) -> ResponseBody {
        ResponseBody(contentLength: reader.size) { [service] writer in
            var offset = 0
            while offset < reader.size {
                let part = try await service.readPart(reader, offset: offset, count: Self.partBytes)
                try await writer.write(ByteBuffer(bytes: part))
                offset += part.count
            }
            try await writer.finish(nil)
        }
    }

    /// The request body, refused with 413 from a declared length over `limit` before a byte of
    /// it is read (the connection then ends: `RequestGuard.answeredBeforeBody`), and held within
    /// the request-body memory (`BodyMemory`): a declared length is reserved whole before
    /// reading (or refused, 429 or 503, also before a byte is read), a chunked body as it comes.
    func body(_ request: Request, _ context: RadaRequestContext, limit: Int) async throws -> ByteBuffer {
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > limit {
            throw APIError.tooLarge("the request body is \(declared) bytes, over the limit of \(limit) bytes")
        }
        guard let hold = context.bodyHold else { throw APIError.internal("no request-body memory hold: BodyMemoryMiddleware is not installed") }
        if let declared { try hold.cover(declared) }
        var collected = ByteBuffer()
        for try await part in request.body {
            let (size, overflow) = collected.readableBytes.addingReportingOverflow(part.readableBytes)
            guard !overflow, size <= limit else { throw APIError.tooLarge("the request body is over the limit of \(limit) bytes") }
            if declared == nil { try hold.cover(size) }
            collected.writeImmutableBuffer(part)
        }
        return collected
    }

    func decodeJSON<T: Decodable & Sendable>(_ type: T.Type, _ request: Request, _ context: RadaRequestContext) async throws -> T {
        _ = try ContentType.require(request.headers[.contentType], ContentType.json, hint: "send Content-Type: application/json")
        let buffer = try await body(request, context, limit: limits.maxBodyBytes)
        let maxItems = JSONShape.maxItems(limits)
        return try await service.images.parse(bodyBytes: buffer.readableBytes) {
            try buffer.withUnsafeReadableBytes { try JSONShape.check($0, maxItems: maxItems) }
            do { return try JSONValue.boundedDecoder().decode(T.self, from: Data(buffer: buffer)) } catch let error as DecodingError {
                throw APIError.badRequest("the JSON body does not match the expected shape: \(DecodingError.summary(error))")
            }
        }
    }

    /// One route: what `register` adds to the router, what `RouteIndex` answers 405s from, and
    /// what the contract test compares with Docs/openapi.yaml (operations, parameters, statuses).
    struct Endpoint: Sendable {
        let method: HTTPRequest.Method
        /// Literal segments and `:name` parameters.
        let path: String
        /// Query parameters the handler reads.
        let query: [String]
        /// Media types of the request body the handler takes (empty: no body).
        let accepts: [String]
        /// Statuses particular to this operation: its success and its own refusals. Those that
        /// follow from its shape (auth, path parameters, a body, the connection) are added by
        /// `statuses`.
        let ownStatuses: Set<Int>
        let handle: @Sendable (Request, RadaRequestContext) async throws -> Response

        init(
            _ method: HTTPRequest.Method, _ path: String, query: [String] = [], accepts: [(type: String, subtype: String)] = [],
            statuses: Set<Int>,
            _ handle: @escaping @Sendable (Request, RadaRequestContext) async throws -> Response
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.accepts = accepts.map { "\($0.type)/\($0.subtype)" }
            self.ownStatuses = statuses
            self.handle = handle
        }

        var isPublic: Bool { AuthMiddleware.publicPaths.contains(path) }
        var pathParameters: [String] { path.split(separator: "/").filter { $0.hasPrefix(":") }.map { String($0.dropFirst()) } }

        /// Every status the operation can answer: the connection's (408, 414, 431 and the
        /// connection cap's 503) on any request; with a key, 401 and the per-client cap's 429; an
        /// id or name in the path, 400 (invalid) and 404; a body, 400 (malformed), 413 (over a
        /// limit) and 415 (other media type); and the operation's own.
        var statuses: Set<Int> {
            var all: Set<Int> = [408, 414, 431, 503]
            if !isPublic { all.formUnion([401, 429]) }
            if !pathParameters.isEmpty { all.formUnion([400, 404]) }
            if !accepts.isEmpty { all.formUnion([400, 413, 415]) }
            return all.union(ownStatuses)
        }
    }

    static func register(_ endpoints: [Endpoint], on router: Router<RadaRequestContext>) {
        for endpoint in endpoints {
            router.on(RouterPath(endpoint.path), method: endpoint.method, use: endpoint.handle)
        }
    }

    /// A path parameter, percent-decoded and then validated as an identifier (stream id,
    /// checkpoint name): `%2F`, `%2E%2E` or invalid escapes cannot reach the file system.
    static func identifier(_ context: RadaRequestContext, _ parameter: String, _ what: String) throws -> String {
        let raw = try context.parameters.require(parameter)
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError.badRequest("the \(what) in the path is not valid percent-encoded UTF-8")
        }
        try Identifier.require(decoded, what)
        return decoded
    }

    static func id(_ context: RadaRequestContext) throws -> String { try identifier(context, "id", "stream id") }
    static func name(_ context: RadaRequestContext) throws -> String { try identifier(context, "name", "checkpoint name") }

    func endpoints() -> [Endpoint] {
        let service = service, readiness = readiness, limits = limits
        return [
            Endpoint(.get, "/healthz", statuses: [200]) { _, _ in try Self.json(["status": "alive"]) },
            Endpoint(.get, "/readyz", statuses: [200, 503]) { _, _ in
                readiness.isReady ? try Self.json(["status": "ready"]) : try Self.json(["status": "warming up"], status: .serviceUnavailable)
            },
            Endpoint(.get, "/metrics", statuses: [200]) { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: service.metrics.exposition())))
            },
            Endpoint(.get, "/openapi.yaml", statuses: [200]) { _, _ in
                Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
            },
        ] + Dashboard.assets.map { asset in
            Endpoint(.get, asset.path, statuses: [200]) { _, _ in Dashboard.response(mediaType: asset.mediaType, body: asset.body) }
        } + [
            Endpoint(.post, "/v1/streams", accepts: [ContentType.json], statuses: [201, 409, 422, 507]) { request, context in
                try Self.json(try await service.createStream(client: context.client, request: decodeJSON(CreateStreamRequest.self, request, context)), status: .created)
            },
            Endpoint(.get, "/v1/streams", statuses: [200]) { _, context in try Self.json(await service.listStreams(client: context.client)) },
            Endpoint(.get, "/v1/streams/:id", statuses: [200]) { _, context in
                try Self.json(try await service.streamInfo(client: context.client, id: try Self.id(context)))
            },
            Endpoint(.delete, "/v1/streams/:id", statuses: [204]) { _, context in
                try await service.deleteStream(client: context.client, id: try Self.id(context))
                return Response(status: .noContent)
            },
            Endpoint(
                .post, "/v1/streams/:id/classify", query: ["adapt", "top"], accepts: [ContentType.formData, ContentType.json], statuses: [200, 422, 507]
            ) { request, context in
                let id = try Self.id(context)
                let query = request.uri.queryParameters
                let adapt = try Self.flag(query.get("adapt"), name: "adapt", default: true)
                let top = try Self.integer(query.get("top"), name: "top", default: 5)
                let key = try request.headers.first(where: { $0.name.canonicalName == "idempotency-key" }).map { field in
                    guard let key = IdempotencyKey.validated(field.value) else {
                        throw APIError.badRequest("Idempotency-Key must be 1-\(IdempotencyKey.maxLength) visible ASCII characters")
                    }
                    return key
                }
                let (contentType, body) = (request.headers[.contentType], try await body(request, context, limit: limits.maxBodyBytes))
                let files = try await service.images.parse(bodyBytes: body.readableBytes) {
                    try ImageInput.files(contentType: contentType, body: body, limits: limits)
                }
                return try Self.json(try await service.classify(client: context.client, id: id, files: files, adapt: adapt, top: top, idempotencyKey: key))
            },
            Endpoint(.get, "/v1/streams/:id/history", query: ["since", "limit"], statuses: [200]) { request, context in
                let id = try Self.id(context)
                let query = request.uri.queryParameters
                let since = try Self.integer(query.get("since"), name: "since", default: 0)
                let limit = try Self.integer(query.get("limit"), name: "limit", default: StreamService.maxHistoryLimit)
                return try Self.json(try await service.history(client: context.client, id: id, since: since, limit: limit))
            },
            Endpoint(.post, "/v1/streams/:id/reset", statuses: [200, 507]) { _, context in
                try Self.json(try await service.resetStream(client: context.client, id: try Self.id(context)))
            },
            Endpoint(.post, "/v1/streams/:id/checkpoints", accepts: [ContentType.json], statuses: [201, 409, 507]) { request, context in
                let id = try Self.id(context)
                let name = try await decodeJSON(CheckpointRequest.self, request, context).name
                return try Self.json(try await service.createCheckpoint(client: context.client, id: id, name: name), status: .created)
            },
            Endpoint(.get, "/v1/streams/:id/checkpoints", statuses: [200]) { _, context in
                try Self.json(try await service.listCheckpoints(client: context.client, id: try Self.id(context)))
            },
            Endpoint(.get, "/v1/streams/:id/checkpoints/:name", statuses: [200]) { _, context in
                let name = try Self.name(context)
                let reader = try await service.checkpointDownload(client: context.client, id: try Self.id(context), name: name)
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/octet-stream", .contentDisposition: "attachment; filename=\"\(name).safetensors\""],
                    body: streamed(reader))
            },
            Endpoint(.put, "/v1/streams/:id/checkpoints/:name", accepts: [ContentType.octetStream], statuses: [201, 409, 422, 507]) { request, context in
                let (id, name) = (try Self.id(context), try Self.name(context))
                // Owner, stream, name and size are settled before a byte of the body is read.
                let limit = try await service.checkpointUploadLimit(client: context.client, id: id, name: name)
                _ = try ContentType.require(
                    request.headers[.contentType], ContentType.octetStream, hint: "upload a checkpoint as application/octet-stream (the safetensors file)")
                if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
                    throw APIError.tooLarge("the checkpoint is \(declared) bytes; this stream's checkpoints are at most \(limit) bytes")
                }
                let data = Data(buffer: try await body(request, context, limit: limit))
                return try Self.json(try await service.uploadCheckpoint(client: context.client, id: id, name: name, data: data), status: .created)
            },
            Endpoint(.post, "/v1/streams/:id/checkpoints/:name/restore", statuses: [200, 409, 422, 507]) { _, context in
                try Self.json(try await service.restoreCheckpoint(client: context.client, id: try Self.id(context), name: try Self.name(context)))
            },
            Endpoint(.delete, "/v1/streams/:id/checkpoints/:name", statuses: [204]) { _, context in
                try await service.deleteCheckpoint(client: context.client, id: try Self.id(context), name: try Self.name(context))
                return Response(status: .noContent)
            },
            Endpoint(.post, "/v1/classify", query: ["top"], accepts: [ContentType.json], statuses: [200, 422]) { request, context in
                let top = try Self.integer(request.uri.queryParameters.get("top"), name: "top", default: 5)
                return try Self.json(try await service.classifyStateless(decodeJSON(StatelessClassifyRequest.self, request, context), top: top, client: context.client))
            },
        ]
    }

    static func flag(_ value: String?, name: String, default: Bool) throws -> Bool {
        guard let value else { return `default` }
        // Exactly the document's boolean: a client whose "1" was taken as true would be
        // relying on something no generated client sends and the contract does not promise.
        switch value {
        case "true": return true
        case "false": return false
        default: throw APIError.badRequest("query parameter \(name) must be true or false, got \"\(value.prefix(40))\"")
        }
    }

    static func integer(_ value: String?, name: String, default: Int) throws -> Int {
        guard let value else { return `default` }
        guard let number = Int(value) else { throw APIError.badRequest("query parameter \(name) must be an integer, got \"\(value.prefix(40))\"") }
        return number
    }
}

/// Which methods each route path accepts, for 405 answers with `Allow` (the router itself only
/// knows "no match", which it reports as 404).
struct RouteIndex: Sendable {
    private let routes: [(segments: [Substring], methods: [HTTPRequest.Method])]

    init(_ endpoints: [Routes.Endpoint]) {
        var routes: [(segments: [Substring], methods: [HTTPRequest.Method])] = []
        for endpoint in endpoints {
            let segments = endpoint.path.split(separator: "/")
            if let i = routes.firstIndex(where: { $0.segments == segments }) {
                routes[i].methods.append(endpoint.method)
            } else {
                routes.append((segments, [endpoint.method]))
            }
        }
        self.routes = routes
    }

    /// The methods a route at `path` accepts; empty when no route has this path.
    func allowedMethods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        let matching = routes.filter { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { pattern, segment in pattern.hasPrefix(":") || pattern == segment }
        }
        var methods: [HTTPRequest.Method] = []
        for method in matching.flatMap(\.methods) where !methods.contains(method) { methods.append(method) }
        return methods.sorted { $0.rawValue < $1.rawValue }
    }
}
