import CNumerics
import Dispatch
import Foundation

extension BLAS {
    /// The thread count set with `setThreads` (OpenBLAS's own count): the one setting that also
    /// governs rada's own parallel kernels, so that they never run more threads than BLAS would.
    /// Inside `withSingleThreadedCalls` it is still the configured count, not the temporary 1.
    public static var threadCount: Int {
        ensureLoaded()
        return singleThreaded.withLock { $0.depth > 0 ? $0.configured : max(1, Int(rada_blas_get_threads())) }
    }

    private struct SingleThreadedState {
        var depth = 0
        var configured = 1
    }

    private static let singleThreaded = LockedState(SingleThreadedState())

    /// Runs `body` with every BLAS call single-threaded, for callers that split independent BLAS
    /// work over their own threads (`parallel`), where OpenBLAS's pool would only oversubscribe
    /// the cores. Nested and concurrent uses share one depth count: the configured thread count
    /// comes back when the last one ends (and a `setThreads` meanwhile is applied then).
    public static func withSingleThreadedCalls<R>(_ body: () throws -> R) rethrows -> R {
        ensureLoaded()
        singleThreaded.withLock { state in
            if state.depth == 0 {
                state.configured = max(1, Int(rada_blas_get_threads()))
                rada_blas_set_threads(1)
            }
            state.depth += 1
        }
        defer {
            singleThreaded.withLock { state in
                state.depth -= 1
                if state.depth == 0 { rada_blas_set_threads(Int32(state.configured)) }
            }
        }
        return try body()
    }

    /// `setThreads`, deferred to the end of any running `withSingleThreadedCalls`.
    static func setThreadsRespectingSingleThreaded(_ threads: Int) {
        singleThreaded.withLock { state in
            if state.depth > 0 { state.configured = max(1, threads) } else { rada_blas_set_threads(Int32(max(1, threads))) }
        }
    }

    /// How many parts to split a product of `flops` floating-point operations into: one below
    /// ~1 MFLOP (a second thread costs more to wake than it saves), else `threadCount`, at most
    /// `maxParts`.
    public static func parts(forFLOPs flops: Int, upTo maxParts: Int) -> Int {
        flops < 1 << 20 ? 1 : max(1, min(threadCount, maxParts))
    }

    /// Runs `body(part)` for `part` in 0..<parts concurrently (inline when one). The parts must
    /// write disjoint memory; callers size `parts` by `threadCount`.
    public static func parallel(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 {
            if parts == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            // The parts touch disjoint memory by contract; concurrentPerform returns only after
            // every part has run, so nothing outlives this call.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: parts) { body($0) }
        }
    }
}

/// A value behind a lock (Foundation's NSLock; `Sendable` because every access holds the lock).
final class LockedState<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
