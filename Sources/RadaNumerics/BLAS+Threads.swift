import CNumerics
import Dispatch
import Foundation

extension BLAS {
    /// The threaded library's thread count (`setThreads`): the backbone's share of the machine,
    /// and the width rada's own parallel kernels use. Nothing changes it behind its owner's back:
    /// products that run on their caller's thread go to the caller-thread library instead
    /// (`onCallerThread`).
    public static var threadCount: Int {
        ensureLoaded()
        return max(1, Int(rada_blas_get_threads()))
    }

    /// Runs `body` with the threaded library's count set to `threads`, then restores the count.
    /// Callers of `withThreads` run one at a time (a process-wide lock, not reentrant), so none
    /// of them sees a count another one set meanwhile. `setThreads` is for the one owner that
    /// sets the count at a process's start; code that changes it for a while (a comparison of
    /// thread counts, tests run in parallel) goes through here.
    public static func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        threadCountOwner.lock()
        defer { threadCountOwner.unlock() }
        let before = threadCount
        setThreads(threads)
        defer { setThreads(before) }
        return try body()
    }

    private static let threadCountOwner = NSLock()

    /// Whether a caller-thread library was found: BLIS's single-threaded build (Debian's
    /// `libblis4-serial`; `RADA_BLAS_SERIAL_LIBRARY` names another, never a second OpenBLAS);
    /// without it `onCallerThread` keeps using the threaded library.
    public static var hasCallerThreadLibrary: Bool {
        ensureLoaded()
        return rada_blas_serial_library().pointee != 0
    }

    /// Runs `body` with this thread's BLAS products on the caller-thread library: each runs on the
    /// calling thread alone, so callers that split independent products over their own threads
    /// (`parallel`) neither oversubscribe the cores nor change the threaded library's count for
    /// anyone else (a tower pass on another thread keeps its threads). Only this thread is
    /// affected; nesting is allowed.
    public static func onCallerThread<R>(_ body: () throws -> R) rethrows -> R {
        ensureLoaded()
        rada_blas_enter_caller_thread()
        defer { rada_blas_leave_caller_thread() }
        return try body()
    }

    /// Products this thread has sent to the threaded library since it started (those outside
    /// `onCallerThread`): what must never reach it, such as a stream's steps, is tested by this.
    public static var threadedLibraryCallsOnThisThread: Int { Int(rada_blas_threaded_calls()) }

    /// The threads rada's own kernels (packed and 16-bit products, the towers' row-wise work and
    /// attention) split their work over on this thread: `threadCount`, or 1 inside `serially`.
    public static var kernelThreads: Int {
        rada_in_serial_section() != 0 ? 1 : threadCount
    }

    /// Runs `body` entirely on the calling thread: its BLAS products on the caller-thread library
    /// (`onCallerThread`) and rada's own kernels unsplit (`kernelThreads` is 1). For callers that
    /// split independent work over the threads themselves (a tower pass's images, one share per
    /// thread), so that nothing inside waits on another thread. Nesting is allowed.
    public static func serially<R>(_ body: () throws -> R) rethrows -> R {
        ensureLoaded()
        rada_enter_serial_section()
        defer { rada_leave_serial_section() }
        return try onCallerThread(body)
    }

    /// The most threads one `parallel` call runs on, the caller included: the CPU budget
    /// (`CPUBudget.cores`, applied when the library loads).
    public static var kernelThreadLimit: Int {
        ensureLoaded()
        return Int(rada_pool_cores())
    }

    /// How long rada's kernel threads spin after a job before they sleep (`RADA_POOL_SPIN_US`).
    public static var kernelThreadSpinMicroseconds: Int { Int(rada_pool_spin_us()) }

    /// How many parts to split a product of `flops` floating-point operations into: one below
    /// ~1 MFLOP (a second thread costs more to wake than it saves), else `kernelThreads`, at most
    /// `maxParts`.
    public static func parts(forFLOPs flops: Int, upTo maxParts: Int) -> Int {
        flops < 1 << 20 ? 1 : max(1, min(kernelThreads, maxParts))
    }

    /// Runs `body(part)` for `part` in 0..<parts concurrently (inline when one), claimed by the
    /// calling thread and rada's kernel threads (`rada_pool_run`; no more threads than cores),
    /// which spin between jobs so that the ~100 splits of a batch-1 tower pass do not each wait
    /// for a thread to wake; on Dispatch's threads when those are busy with another caller's
    /// parts. The parts must write disjoint memory; callers size `parts` by `threadCount`.
    public static func parallel(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 {
            if parts == 1 { body(0) }
            return
        }
        // Every part runs under the caller's floating-point mode (`Subnormals.flushed`), on
        // whichever thread takes it.
        let control = rada_fp_control()
        withoutActuallyEscaping(body) { body in
            // The parts touch disjoint memory by contract, and both ways return only after
            // every part has run, so nothing outlives this call.
            var job = PoolJob(control: control, body: body)
            let pooled = withUnsafeMutablePointer(to: &job) { job in
                rada_pool_run(Int32(parts), { context, part in
                    let job = context!.assumingMemoryBound(to: PoolJob.self)
                    Subnormals.under(job.pointee.control) { job.pointee.body(Int(part)) }
                }, job)
            }
            if pooled == 1 { return }
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: parts) { part in Subnormals.under(control) { body(part) } }
        }
    }
}

/// What `BLAS.parallel` hands the pool threads: the caller's floating-point mode and its parts.
private struct PoolJob {
    let control: UInt32
    let body: (Int) -> Void
}
