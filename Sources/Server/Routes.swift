import Foundation
import Hummingbird
import NIOCore

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

    var limits: ServerLimits { service.limits }

    func body(_ request: Request, limit: Int) async throws -> ByteBuffer {
        var request = request
        do { return try await request.collectBody(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("the request body is over the limit of \(limit) bytes")
        }
    }

    func decodeJSON<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        guard (request.headers[.contentType] ?? "").lowercased().hasPrefix("application/json") else {
            throw APIError.unsupportedMediaType("send Content-Type: application/json")
        }
        let buffer = try await body(request, limit: limits.maxBodyBytes)
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: buffer)) } catch let error as DecodingError {
            throw APIError.badRequest("the JSON body does not match the expected shape: \(DecodingError.summary(error))")
        }
    }

    func register(on router: Router<RadaRequestContext>) {
        router.get("/healthz") { _, _ in try Self.json(["status": "alive"]) }
        router.get("/readyz") { _, _ in
            readiness.isReady ? try Self.json(["status": "ready"]) : try Self.json(["status": "warming up"], status: .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: service.metrics.exposition())))
        }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }

        let v1 = router.group("v1")
        v1.post("streams") { request, context in
            try Self.json(try await service.createStream(client: context.client, request: decodeJSON(CreateStreamRequest.self, request)), status: .created)
        }
        v1.get("streams") { _, context in try Self.json(await service.listStreams(client: context.client)) }
        v1.get("streams/:id") { _, context in
            try Self.json(try await service.streamInfo(client: context.client, id: context.parameters.require("id")))
        }
        v1.delete("streams/:id") { _, context in
            try await service.deleteStream(client: context.client, id: context.parameters.require("id"))
            return Response(status: .noContent)
        }
        v1.post("streams/:id/classify") { request, context in
            let query = request.uri.queryParameters
            let adapt = try Self.flag(query.get("adapt"), name: "adapt", default: true)
            let top = try Self.integer(query.get("top"), name: "top", default: 5)
            let files = try ImageInput.files(contentType: request.headers[.contentType], body: await body(request, limit: limits.maxBodyBytes), limits: limits)
            return try Self.json(try await service.classify(client: context.client, id: context.parameters.require("id"), files: files, adapt: adapt, top: top))
        }
        v1.post("streams/:id/reset") { _, context in
            try Self.json(try await service.resetStream(client: context.client, id: context.parameters.require("id")))
        }
        v1.post("streams/:id/checkpoints") { request, context in
            let name = try await decodeJSON(CheckpointRequest.self, request).name
            return try Self.json(try await service.createCheckpoint(client: context.client, id: context.parameters.require("id"), name: name), status: .created)
        }
        v1.get("streams/:id/checkpoints") { _, context in
            try Self.json(try await service.listCheckpoints(client: context.client, id: context.parameters.require("id")))
        }
        v1.get("streams/:id/checkpoints/:name") { _, context in
            let name = try context.parameters.require("name")
            let data = try await service.checkpointData(client: context.client, id: context.parameters.require("id"), name: name)
            return Response(
                status: .ok,
                headers: [.contentType: "application/octet-stream", .contentDisposition: "attachment; filename=\"\(name).safetensors\""],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        v1.put("streams/:id/checkpoints/:name") { request, context in
            let id = try context.parameters.require("id"), name = try context.parameters.require("name")
            // Owner, stream, name and size are settled before a byte of the body is read.
            let limit = try await service.checkpointUploadLimit(client: context.client, id: id, name: name)
            let type = (request.headers[.contentType] ?? "").lowercased()
            guard type.hasPrefix("application/octet-stream") else {
                throw APIError.unsupportedMediaType("upload a checkpoint as application/octet-stream (the safetensors file)")
            }
            if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
                throw APIError.tooLarge("the checkpoint is \(declared) bytes; this stream's checkpoints are at most \(limit) bytes")
            }
            let data = Data(buffer: try await body(request, limit: limit))
            return try Self.json(try await service.uploadCheckpoint(client: context.client, id: id, name: name, data: data), status: .created)
        }
        v1.post("streams/:id/checkpoints/:name/restore") { _, context in
            try Self.json(try await service.restoreCheckpoint(
                client: context.client, id: context.parameters.require("id"), name: context.parameters.require("name")))
        }
        v1.delete("streams/:id/checkpoints/:name") { _, context in
            try await service.deleteCheckpoint(client: context.client, id: context.parameters.require("id"), name: context.parameters.require("name"))
            return Response(status: .noContent)
        }
        v1.post("classify") { request, _ in
            let top = try Self.integer(request.uri.queryParameters.get("top"), name: "top", default: 5)
            return try Self.json(try await service.classifyStateless(decodeJSON(StatelessClassifyRequest.self, request), top: top))
        }
    }

    static func flag(_ value: String?, name: String, default: Bool) throws -> Bool {
        guard let value else { return `default` }
        switch value.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw APIError.badRequest("query parameter \(name) must be true or false, got \"\(value.prefix(40))\"")
        }
    }

    static func integer(_ value: String?, name: String, default: Int) throws -> Int {
        guard let value else { return `default` }
        guard let number = Int(value) else { throw APIError.badRequest("query parameter \(name) must be an integer, got \"\(value.prefix(40))\"") }
        return number
    }
}
