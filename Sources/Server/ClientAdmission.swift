import Prometheus
import Synchronization

/// Caps the requests each client has in flight, so that one client's flood queues at its own
/// door (429 with `Retry-After`) instead of filling the server's queues ahead of everyone else.
final class ClientAdmission: Sendable {
    private let limit: Int
    /// Requests in flight per client, and all of them (the gauge's value, set under the lock so
    /// that the exposition never goes backwards).
    private let inFlight = Mutex<(counts: [String: Int], total: Int)>(([:], 0))
    private let gauge: Gauge

    init(limit: Int, gauge: Gauge) {
        self.limit = max(1, limit)
        self.gauge = gauge
    }

    /// Runs `body` as one of `client`'s requests, or refuses at once when it has `limit` running.
    func admit<T>(_ client: String, _ body: () async throws -> T) async throws -> T {
        let admitted = inFlight.withLock { state in
            let current = state.counts[client, default: 0]
            guard current < limit else { return false }
            state.counts[client] = current + 1
            state.total += 1
            gauge.set(Double(state.total))
            return true
        }
        guard admitted else {
            throw APIError.queueFull("client \"\(client)\" already has \(limit) requests in flight (--max-client-requests); retry after one finishes")
        }
        defer {
            inFlight.withLock { state in
                let remaining = state.counts[client, default: 1] - 1
                state.counts[client] = remaining > 0 ? remaining : nil
                state.total -= 1
                gauge.set(Double(state.total))
            }
        }
        return try await body()
    }
}
