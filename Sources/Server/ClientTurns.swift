/// One store write under a client's quota at a time per client, the others waiting without a
/// thread. Such writes (checkpoint saves and uploads, stream creations) take the client's quota
/// lock in the store and run on the shared adaptation pool: without turns, a client saving on
/// many streams at once filled every pool thread with saves waiting for its own lock, and every
/// other client's steps queued behind them. With them a client holds at most one pool thread
/// for such writes, whatever it sends.
actor ClientTurns {
    private var busy: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Runs `body` once `client`'s earlier writes have ended, in arrival order.
    func run<T: Sendable>(_ client: String, _ body: @Sendable () async throws -> T) async throws -> T {
        if !busy.insert(client).inserted {
            await withCheckedContinuation { waiting[client, default: []].append($0) }
        }
        defer { pass(client) }
        return try await body()
    }

    /// The turn goes to the client's next waiter, or ends.
    private func pass(_ client: String) {
        guard var queue = waiting[client], !queue.isEmpty else {
            busy.remove(client)
            return
        }
        let next = queue.removeFirst()
        waiting[client] = queue.isEmpty ? nil : queue
        next.resume()
    }
}
