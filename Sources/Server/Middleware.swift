import Foundation
import Hummingbird
import Logging

/// Renders every error as the API's JSON shape and records request count and latency by route
/// and status. Outermost, so that 404s of unknown routes and auth failures are counted too.
struct ErrorAndMetricsMiddleware: RouterMiddleware {
    typealias Context = RadaRequestContext
    let metrics: ServerMetrics
    /// Answers "which methods does this path take" when the router found no route.
    let routes: RouteIndex

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            var apiError = APIError.from(error)
            // The router reports a known path with an unlisted method as "not found" (HTTPError,
            // unlike a handler's APIError.notFound): that is a 405 naming the allowed methods.
            if let error = error as? HTTPError, error.status == .notFound {
                let allowed = routes.allowedMethods(for: request.uri.path)
                if !allowed.isEmpty { apiError = .methodNotAllowed(allowed: allowed) }
            }
            if apiError.code == APIError.storageFullCode {
                // The operator's problem, not the client's: the log says where and how much.
                context.logger.warning("storage full", metadata: ["route": "\(context.endpointPath ?? "-")", "error": "\(error)"])
            }
            if apiError.status == .internalServerError {
                // Never echo an internal error: it may name paths or state. Log it under a reference.
                let reference = APIError.newReference()
                context.logger.error(
                    "request failed", metadata: ["route": "\(context.endpointPath ?? "-")", "reference": "\(reference)", "error": "\(error)"])
                apiError = .internalReference(reference)
            }
            response = try apiError.response(from: request, context: context)
        }
        // Every answer is what its type says (an error message may repeat a client's text), and
        // an answer to a keyed request is that client's: no shared cache may keep it.
        if response.headers[.xContentTypeOptions] == nil { response.headers[.xContentTypeOptions] = "nosniff" }
        if request.headers[.authorization] != nil, response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        metrics.recordRequest(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - start)
        return response
    }
}

/// Bearer authentication: each key names a client. Health, readiness, metrics and the OpenAPI
/// document are public. Without keys every request is the client "local". With keys, each
/// client's requests in flight are capped (`ClientAdmission`).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = RadaRequestContext
    let keys: APIKeys?
    let admission: ClientAdmission
    static let publicPaths: Set<String> = Set(["/healthz", "/readyz", "/metrics", "/openapi.yaml"] + Dashboard.assets.map(\.path))

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if Self.publicPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let keys else {
            context.client = "local"
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw APIError.unauthorized("send \"Authorization: Bearer <key>\"")
        }
        guard let client = keys.client(forKey: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else {
            throw APIError.unauthorized("the API key is not valid")
        }
        context.client = client
        let ticket = try admission.enter(client)
        var response: Response
        do { response = try await next(request, context) } catch {
            ticket.leave()
            throw error
        }
        // In flight until the body is written: Hummingbird writes it after this returns, and a
        // client that does not read holds the connection that long.
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            defer { ticket.leave() }
            try await body.write(writer)
        }
        return response
    }
}

/// Gives each request its hold on the request-body memory (`BodyMemory`), for the client the key
/// named, and gives it back once the handler has answered (the body is no longer needed then).
struct BodyMemoryMiddleware: RouterMiddleware {
    typealias Context = RadaRequestContext
    let memory: BodyMemory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let hold = memory.hold(client: context.client)
        context.bodyHold = hold
        defer { hold.release() }
        return try await next(request, context)
    }
}
