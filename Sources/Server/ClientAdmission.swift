import Prometheus
import Synchronization

/// Caps the requests each client has in flight, so that one client's flood queues at its own
/// door (429 with `Retry-After`) instead of filling the server's queues ahead of everyone else.
/// A request is in flight until its response has been written: a client reading its answers
/// slowly holds its own places (and connections), not everyone's.
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

    /// One admitted request; it leaves the count once, when `leave()` is called or it is
    /// dropped (a response that is never written still gives its place back).
    final class Ticket: Sendable {
        private let admission: ClientAdmission
        private let client: String
        private let left = Atomic<Bool>(false)

        fileprivate init(admission: ClientAdmission, client: String) {
            self.admission = admission
            self.client = client
        }

        func leave() {
            guard !left.exchange(true, ordering: .acquiringAndReleasing) else { return }
            admission.release(client)
        }

        deinit { leave() }
    }

    /// Admits one of `client`'s requests, or refuses at once when it has `limit` in flight.
    func enter(_ client: String) throws -> Ticket {
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
        return Ticket(admission: self, client: client)
    }

    private func release(_ client: String) {
        inFlight.withLock { state in
            let remaining = state.counts[client, default: 1] - 1
            state.counts[client] = remaining > 0 ? remaining : nil
            state.total -= 1
            gauge.set(Double(state.total))
        }
    }
}
