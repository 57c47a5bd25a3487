import Foundation
import RadaNumerics

/// How many heaps glibc's malloc keeps for the server's threads.
///
/// glibc gives threads up to eight arenas per core, each with heaps of its own that are trimmed
/// back to the kernel once a large block at their top is freed. A request's buffers (the body, its
/// base64-decoded image, the decoded pixels) are allocated on one thread and freed on another, so
/// each request grew a heap and trimmed it again: about 32 page faults per request on the
/// embedded model (`perf stat`), cleared pages included. With one arena per eight cores the
/// same memory is reused and the faults disappear (36 in 2 s instead of 22,000; the server's CPU
/// per request about 0.09 ms lower, alternating runs; Docs/benchmarks.md). The server's threads are
/// few and owned (event loops, decode workers, the backbone and adaptation pools), so the lock
/// the arenas share is rarely contended.
public enum MallocArenas {
    /// Caps the arenas for threads that allocate from now on; call before the server starts its
    /// threads. Returns the cap, or nil where the C library has no such setting.
    @discardableResult
    public static func cap(cores: Int = CPUBudget.current.cores) -> Int? {
        // `mallopt` is declared in <malloc.h>, which Swift's Glibc module leaves out; it is looked
        // up by name instead, with glibc's stable value of M_ARENA_MAX.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mArenaMax: Int32 = -8
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return nil }
        let arenas = max(1, cores / 8)
        return unsafeBitCast(symbol, to: Mallopt.self)(mArenaMax, Int32(clamping: arenas)) == 1 ? arenas : nil
    }
}
