import CNumerics
import Dispatch

extension BLAS {
    /// The thread count set with `setThreads` (OpenBLAS's own count): the one setting that also
    /// governs rada's own parallel kernels, so that they never run more threads than BLAS would.
    public static var threadCount: Int {
        ensureLoaded()
        return max(1, Int(rada_blas_get_threads()))
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
