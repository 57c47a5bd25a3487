import Foundation
import RadaNumerics
import Synchronization

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

/// Gives the heap's free memory back to the system after a peak of request bodies has passed.
///
/// glibc returns freed memory to the kernel only from the top of a heap; bodies freed in the
/// middle stay in the process (RSS stayed at 396 MiB, idle 160, after a flood of withheld bodies
/// had been answered). After a peak of at least `minimumPeak` bytes of bodies, once what is held
/// has fallen to an eighth of it, one `malloc_trim(0)` runs off the request path, at most once
/// per `interval` (one due sooner waits for it). Steady traffic never reaches it, so the faults
/// `MallocArenas` removed stay away.
final class HeapTrimmer: Sendable {
    static let minimumPeak = 128 << 20
    let interval: Duration
    private let trim: @Sendable () -> Void
    private let state = Mutex<(peak: Int, last: ContinuousClock.Instant?, pending: Bool)>((0, nil, false))

    init(interval: Duration = .seconds(5), trim: @escaping @Sendable () -> Void = HeapTrimmer.mallocTrim) {
        self.interval = interval
        self.trim = trim
    }

    /// Bytes of bodies held now; called on every change.
    func held(_ bytes: Int) {
        let delay = state.withLock { state -> Duration? in
            state.peak = max(state.peak, bytes)
            guard !state.pending, state.peak >= Self.minimumPeak, bytes <= state.peak / 8 else { return nil }
            state.pending = true
            state.peak = bytes
            return state.last.map { max(.zero, interval - (ContinuousClock.now - $0)) } ?? .zero
        }
        guard let delay else { return }
        let nanoseconds = Int(delay.components.seconds) * 1_000_000_000 + Int(delay.components.attoseconds / 1_000_000_000)
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
            trim()
            state.withLock { state in
                state.last = .now
                state.pending = false
            }
        }
    }

    /// glibc's `malloc_trim(0)`, looked up by name (`<malloc.h>` is not in Swift's Glibc module);
    /// nothing where the C library has none.
    static let mallocTrim: @Sendable () -> Void = {
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return {} }
        let function = unsafeBitCast(symbol, to: MallocTrim.self)
        return { _ = function(0) }
    }()
}
