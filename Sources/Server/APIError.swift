import CLIP
import Foundation
import Hummingbird
import NIOCore
import StreamStore

/// Every error the API returns, rendered as `{"error": {"code", "message"}}` with its HTTP status.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible, Sendable {
    public let status: HTTPResponse.Status
    /// A stable machine-readable code (`bad_request`, `not_found`, `queue_full`, …).
    public let code: String
    /// A sentence a user can act on.
    public let message: String
    /// For 405: the methods the path accepts (sent as `Allow`).
    public var allowedMethods: [HTTPRequest.Method] = []
    /// Sent as `Retry-After` (429 always carries 1).
    public var retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message) }
    public static func unauthorized(_ message: String) -> APIError { APIError(.unauthorized, code: "unauthorized", message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message) }
    public static func conflict(_ message: String) -> APIError { APIError(.conflict, code: "conflict", message) }
    /// A client's stream count or a stream's checkpoint count is at the server's limit: nothing
    /// was created; deleting one makes room.
    public static func quotaExceeded(_ message: String) -> APIError { APIError(.conflict, code: "quota_exceeded", message) }
    public static func tooLarge(_ message: String) -> APIError { APIError(.contentTooLarge, code: "too_large", message) }
    public static func unsupportedMediaType(_ message: String) -> APIError {
        APIError(.unsupportedMediaType, code: "unsupported_media_type", message)
    }
    public static func unprocessable(_ message: String) -> APIError { APIError(.unprocessableContent, code: "unprocessable", message) }
    public static func queueFull(_ message: String) -> APIError { APIError(.tooManyRequests, code: "queue_full", message) }
    /// A transient refusal (a budget or limit is full right now): sent with `Retry-After: 1`.
    public static func unavailable(_ message: String) -> APIError {
        var error = APIError(.serviceUnavailable, code: "unavailable", message)
        error.retryAfterSeconds = 1
        return error
    }
    /// The code of a quarantined stream's 503 (not transient: no `Retry-After`).
    public static let quarantinedCode = "stream_quarantined"
    public static func quarantined(id: String, reason: String) -> APIError {
        APIError(.serviceUnavailable, code: quarantinedCode,
                 "stream \"\(id.prefix(80))\" is quarantined: its stored state cannot be loaded (\(reason)); other streams are unaffected. DELETE the stream to remove it")
    }
    /// The code of a 503 for a stream another server owns or has just taken over.
    public static let streamMovedCode = "stream_moved"

    /// 507: the store had no room; the detail (paths, sizes) goes to the log, not the client.
    public static var storageFull: APIError {
        var error = APIError(
            HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), code: storageFullCode,
            "the server's storage is full: nothing was stored or changed; retry later (its operator must free space)")
        error.retryAfterSeconds = 10
        return error
    }
    public static let storageFullCode = "storage_full"
    public static func `internal`(_ message: String) -> APIError { APIError(.internalServerError, code: "internal", message) }

    public static func methodNotAllowed(allowed: [HTTPRequest.Method]) -> APIError {
        var error = APIError(.methodNotAllowed, code: "method_not_allowed", "this path accepts \(allowed.map(\.rawValue).joined(separator: ", ")) only")
        error.allowedMethods = allowed
        return error
    }
    public static func requestTimeout(_ message: String) -> APIError { APIError(.requestTimeout, code: "request_timeout", message) }
    public static func uriTooLong(limit: Int) -> APIError {
        APIError(.uriTooLong, code: "uri_too_long", "the request line is over the server's limit of \(limit) bytes; send long inputs in the body")
    }
    public static func headersTooLarge(limit: Int) -> APIError {
        APIError(.requestHeaderFieldsTooLarge, code: "headers_too_large", "the request headers are over the server's limit of \(limit) bytes")
    }

    struct Body: Codable {
        struct Detail: Codable {
            var code: String
            var message: String
        }
        var error: Detail
    }

    /// Sorted keys: the same error is the same bytes, whatever the dictionary order of the day.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// The JSON body, `{"error":{"code":…,"message":…}}`.
    var body: Data {
        // Two strings cannot fail to encode; a failure here would be a bug in Foundation.
        (try? Self.encoder.encode(Body(error: .init(code: code, message: message)))) ?? Data(#"{"error":{"code":"internal","message":"internal error"}}"#.utf8)
    }

    /// Headers that go with the status: the auth scheme for 401, when to retry for 429.
    var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let seconds = retryAfterSeconds ?? (status == .tooManyRequests ? 1 : nil) { headers[.retryAfter] = "\(seconds)" }
        if !allowedMethods.isEmpty { headers[.allow] = allowedMethods.map(\.rawValue).joined(separator: ", ") }
        return headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A 500 that says nothing about the failure: the detail (which may name files or internals)
    /// goes to the log under `reference`, and the client can quote the reference.
    static func internalReference(_ reference: String) -> APIError {
        .internal("internal error; reference \(reference)")
    }

    /// 16 hex digits, random: unique enough to find one log line.
    static func newReference() -> String {
        let value = UInt64.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The API form of any error a handler or the framework threw.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as ImageBudgetError:
            return error.apiError
        case let error as StreamStoreError:
            return from(error)
        case let error as ClassSetError:
            return .unprocessable("the class set is not usable: \(error)")
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound("no such route")
            case .methodNotAllowed: return APIError(.methodNotAllowed, code: "method_not_allowed", "method not allowed on this route")
            case .contentTooLarge: return .tooLarge("the request body is over the server's limit")
            default: return APIError(error.status, code: "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
        case is NIOTooManyBytesError:
            return .tooLarge("the request body is over the server's limit")
        case let error as DecodingError:
            return .badRequest("the JSON body does not match the expected shape: \(DecodingError.summary(error))")
        default:
            // The caller replaces every 500 by `internalReference` and logs the detail.
            return .internal("internal error: \(error)")
        }
    }
}

extension APIError {
    /// A store's refusal as the API states it. Ownership changes are transient 503s: the proxy
    /// (or the client) retries, and the stream's owner answers.
    static func from(_ error: StreamStoreError) -> APIError {
        switch error {
        case .exists: return .conflict("already exists")
        case .notFound: return .notFound("no such stream")
        case .fenced, .ownedElsewhere:
            var moved = APIError(.serviceUnavailable, code: streamMovedCode,
                                 "this server does not own the stream now (\(error)); retry: the request goes to its owner, or is served here once the owner's lease lapses")
            moved.retryAfterSeconds = 1
            return moved
        case .unavailable:
            var unavailable = APIError(.serviceUnavailable, code: "store_unavailable", "the stream store cannot be reached; retry shortly")
            unavailable.retryAfterSeconds = 1
            return unavailable
        case .damaged(let why): return .internal("stored stream is damaged: \(why)")
        case .quotaExceeded(let stored, let limit): return StreamService.streamQuotaError(limit: limit, stored: stored)
        case .storageFull: return .storageFull
        case .storageQuotaExceeded(let stored, let adding, let limit):
            return .quotaExceeded(
                "this client stores \(size(stored)), and this write of \(size(adding)) would pass its limit of \(size(limit)) (--max-client-storage-mb); delete checkpoints or streams to make room")
        }
    }
}

extension APIError {
    /// A byte count for a message: MiB from 1 MiB up, KiB (rounded up) below.
    static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\((bytes + 1023) >> 10) KiB"
    }
}

extension DecodingError {
    /// A one-line account of where decoding failed.
    static func summary(_ error: DecodingError) -> String {
        func path(_ context: Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "(top level)" : p
        }
        switch error {
        case let .keyNotFound(key, context): return "missing field \"\(key.stringValue)\" at \(path(context))"
        case let .typeMismatch(_, context): return "wrong type at \(path(context)): \(context.debugDescription)"
        case let .valueNotFound(_, context): return "missing value at \(path(context))"
        case let .dataCorrupted(context): return "invalid data at \(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
