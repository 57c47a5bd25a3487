import Synchronization

/// Caps the requests each client has in flight, so that one client's flood queues at its own
/// door (429 with `Retry-After`) instead of filling the server's queues ahead of everyone else.
final class ClientAdmission: Sendable {
    private let limit: Int
    private let inFlight = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = max(1, limit) }

    /// Runs `body` as one of `client`'s requests, or refuses at once when it has `limit` running.
    func admit<T>(_ client: String, _ body: () async throws -> T) async throws -> T {
        let admitted = inFlight.withLock { counts in
            let current = counts[client, default: 0]
            guard current < limit else { return false }
            counts[client] = current + 1
            return true
        }
        guard admitted else {
            throw APIError.queueFull("client \"\(client)\" already has \(limit) requests in flight (--max-client-requests); retry after one finishes")
        }
        defer {
            inFlight.withLock { counts in
                let remaining = counts[client, default: 1] - 1
                counts[client] = remaining > 0 ? remaining : nil
            }
        }
        return try await body()
    }
}
