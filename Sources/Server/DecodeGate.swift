/// Server-wide admission to image decoding: a count of bytes reserved against
/// `DecodeBudget.memoryBytes` and of images being decoded against `DecodeBudget.workers`.
///
/// Waiters are admitted smallest first (a 1-megapixel photo never waits behind a queue of
/// 16-megapixel ones), and one worker is kept for small images. A large image can therefore
/// wait while small ones keep arriving; it is refused with `busy` after `maxWait`, as is every
/// image arriving while `maxWaiting` are already queued. Nothing here allocates per byte: the
/// memory itself is taken by the decoder after `acquire` returns.
actor DecodeGate {
    struct Grant: Sendable {
        fileprivate let bytes: Int
        fileprivate let large: Bool
    }

    private struct Waiter {
        let id: Int
        let bytes: Int
        let large: Bool
        let continuation: CheckedContinuation<Grant, any Error>
        var timeout: Task<Void, Never>?
    }

    private let budget: DecodeBudget
    private var bytesInUse = 0
    private var active = 0
    private var activeLarge = 0
    private var waiters: [Waiter] = []  // ordered by bytes, then arrival
    private var nextID = 0

    init(budget: DecodeBudget) { self.budget = budget }

    /// Bytes reserved now (for tests and metrics).
    var reservedBytes: Int { bytesInUse }

    /// Waits until `bytes` (at most `budget.memoryBytes`) and a worker are free, then holds them
    /// until `release`. Throws `ImageBudgetError.busy` when the wait is refused or too long.
    /// `large` (default: over `smallImageBytes`) images may not take the worker kept for small ones.
    func acquire(bytes: Int, large: Bool? = nil) async throws -> Grant {
        precondition(bytes <= budget.memoryBytes, "an image over the whole budget must be refused before acquire")
        let large = large ?? (bytes > budget.smallImageBytes)
        // Every waiter was refused by the last admission pass and nothing was freed since, so a
        // waiter of the same kind and no more bytes cannot fit now either: admitting this image
        // at once jumps no one who could go first, except bulk or large waiters, which a small
        // image is meant to pass.
        if let grant = admit(bytes, large: large) { return grant }
        guard waiters.count < budget.maxWaiting else { throw ImageBudgetError.busy(waited: nil) }
        let id = nextID
        nextID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let index = waiters.firstIndex { $0.bytes > bytes } ?? waiters.endIndex
                let wait = budget.maxWait
                let timeout = Task { [weak self] in
                    try? await Task.sleep(for: wait)
                    if !Task.isCancelled { await self?.expire(id, error: ImageBudgetError.busy(waited: wait)) }
                }
                waiters.insert(Waiter(id: id, bytes: bytes, large: large, continuation: continuation, timeout: timeout), at: index)
            }
        } onCancel: {
            Task { await self.expire(id, error: CancellationError()) }
        }
    }

    /// Returns a grant's bytes and worker, and admits whoever now fits.
    func release(_ grant: Grant) {
        bytesInUse -= grant.bytes
        active -= 1
        if grant.large { activeLarge -= 1 }
        var index = 0
        while index < waiters.count {
            if let grant = admit(waiters[index].bytes, large: waiters[index].large) {
                let waiter = waiters.remove(at: index)
                waiter.timeout?.cancel()
                waiter.continuation.resume(returning: grant)
            } else {
                index += 1
            }
        }
    }

    private func admit(_ bytes: Int, large: Bool) -> Grant? {
        let largeWorkers = budget.workers > 1 ? budget.workers - 1 : 1
        guard bytesInUse + bytes <= budget.memoryBytes, active < budget.workers, !large || activeLarge < largeWorkers else {
            return nil
        }
        bytesInUse += bytes
        active += 1
        if large { activeLarge += 1 }
        return Grant(bytes: bytes, large: large)
    }

    private func expire(_ id: Int, error: any Error) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.timeout?.cancel()
        waiter.continuation.resume(throwing: error)
    }
}
