import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Whether the backbone has been warmed up (`/readyz`).
final class Readiness: Sendable {
    private let ready = Atomic(false)
    var isReady: Bool { ready.load(ordering: .acquiring) }
    func markReady() { ready.store(true, ordering: .releasing) }
}

/// Builds the RAdaServe HTTP application.
public enum RadaServer {
    /// The application for `configuration` and `backend`; run it with `runService()` (signals
    /// trigger a graceful drain) or inside a `ServiceGroup`. On graceful shutdown, after the HTTP
    /// server has drained, every loaded stream is snapshotted.
    public static func makeApplication(
        configuration: ServerConfiguration, backend: any EmbeddingBackend, metrics: ServerMetrics = ServerMetrics(),
        logger: Logger = Logger(label: "rada.serve")
    ) throws -> some ApplicationProtocol {
        if configuration.store == nil {
            try FileManager.default.createDirectory(at: configuration.dataDirectory, withIntermediateDirectories: true)
        }
        let service = StreamService(configuration: configuration, backend: backend, metrics: metrics, logger: logger)
        let readiness = Readiness()
        let router = Router(context: RadaRequestContext.self)
        let endpoints = Routes(service: service, readiness: readiness).endpoints()
        let routes = RouteIndex(endpoints)
        router.add(middleware: ErrorAndMetricsMiddleware(metrics: metrics, routes: routes))
        router.add(middleware: AuthMiddleware(keys: configuration.apiKeys, admission: ClientAdmission(limit: configuration.maxRequestsPerClient, gauge: metrics.clientRequestsInFlight)))
        let (bodyBytes, trimmer) = (metrics.requestBodyBytes, HeapTrimmer())
        router.add(middleware: BodyMemoryMiddleware(memory: BodyMemory(
            limits: configuration.bodyMemory, perClient: configuration.apiKeys != nil, onChange: { held in
                bodyBytes.set(Double(held))
                trimmer.held(held)
            })))
        Routes.register(endpoints, on: router)
        if configuration.apiKeys == nil {
            logger.warning("no API keys configured: authentication is off, binding to loopback \(configuration.effectiveHost) only")
        } else {
            logger.info("API keys loaded for \(configuration.apiKeys?.clientCount ?? 0) client(s)")
        }
        return Application(
            router: router,
            server: HTTPServerBuilder { [connections = configuration.connections, limits = configuration.limits] responder in
                GuardedHTTP1Channel(responder: responder, limits: connections, metrics: metrics, routes: routes, drainBytes: limits.largestBodyBytes)
            },
            configuration: .init(address: .hostname(configuration.effectiveHost, port: configuration.port), serverName: "RAdaServe"),
            services: [StreamLifecycle(service: service, readiness: readiness, logger: logger)],
            eventLoopGroupProvider: configuration.eventLoopThreads.map { .shared(MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0))) } ?? .singleton,
            logger: logger)
    }
}

/// Warms the backbone up (then `/readyz` turns 200) and snapshots all streams at shutdown.
struct StreamLifecycle: Service {
    let service: StreamService
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        let start = ContinuousClock.now
        try await service.backend.warmUp()
        readiness.markReady()
        logger.info("backbone warmed up in \(ContinuousClock.now - start); ready")
        try? await gracefulShutdown()
        let failures = await service.registry.snapshotAll()
        for failure in failures { logger.error("snapshot at shutdown failed: \(failure)") }
        service.registry.store.close()
        logger.info("streams snapshotted; shut down")
    }
}

extension RadaServer {
    /// The OpenAPI 3.1 document served at `/openapi.yaml`.
    public static var openAPIDocument: String { OpenAPIDocument.yaml }
}
