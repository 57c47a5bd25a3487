import Foundation
import Synchronization
import Testing
import CNumerics
@testable import RadaNumerics

/// `Subnormals.flushed`: subnormal inputs read as zero and subnormal results are written as zero
/// inside it, on the calling thread and in `BLAS.parallel`'s parts; nothing changes outside it.
@Suite(.enabled(if: Subnormals.canFlush, "this platform cannot flush subnormals"))
struct SubnormalTests {
    /// A subnormal the optimiser cannot fold away: half the smallest normal float, at run time.
    @inline(never) static func half(_ x: Float) -> Float { x * 0.5 }
    @inline(never) static func times(_ x: Float, _ y: Float) -> Float { x * y }

    @Test func flushedZeroesSubnormalResultsAndInputsThenRestores() {
        let tiny = Self.half(.leastNormalMagnitude)
        #expect(tiny.isSubnormal)
        #expect(!Subnormals.areFlushed)
        let (result, input, flushedInside) = Subnormals.flushed {
            (Self.half(.leastNormalMagnitude), Self.times(tiny, 1), Subnormals.areFlushed)
        }
        #expect(flushedInside)
        #expect(result == 0, "a subnormal result is written as zero")
        #expect(input == 0, "a subnormal input reads as zero")
        // Restored, also after nesting.
        Subnormals.flushed { Subnormals.flushed {} ; #expect(Subnormals.areFlushed) }
        #expect(!Subnormals.areFlushed)
        #expect(Self.half(.leastNormalMagnitude).isSubnormal)
        #expect(Self.times(tiny, 1) == tiny)
    }

    /// `under` gives a thread that has its own mode (a fresh thread, unflushed) the mode it is
    /// handed, and its own back afterwards: what `BLAS.parallel` does on each pool thread.
    @Test func underAppliesAModeOnAnotherThreadAndRestoresIt() async {
        let flushing = Subnormals.flushed { rada_fp_control() }
        let seen: (Bool, Bool, Bool) = await withCheckedContinuation { done in
            let thread = Thread {
                let before = Subnormals.areFlushed
                let inside = Subnormals.under(flushing) { Subnormals.areFlushed && Self.half(.leastNormalMagnitude) == 0 }
                done.resume(returning: (before, inside, Subnormals.areFlushed))
            }
            thread.start()
        }
        #expect(seen.0 == false && seen.1 == true && seen.2 == false)
    }

    /// Every `BLAS.parallel` part runs under the caller's mode, wherever it runs; parts outside
    /// a flushed scope keep subnormals. Which parts a pool thread takes depends on the machine's
    /// load, so the parts are repeated until some ran off the caller's thread (nearly always the
    /// first time; with every pool thread busy all parts run on the caller, which checks less).
    @Test func parallelPartsRunUnderTheCallersMode() {
        func modes(flushed: Bool) -> (all: [Bool], offCaller: Int) {
            let caller = pthread_self()
            let parts = 8
            let state = Mutex(([Bool](repeating: !flushed, count: parts), 0))
            let run = {
                BLAS.parallel(parts: parts) { part in
                    // Long enough for a pool thread to join in.
                    let clock = ContinuousClock(), end = clock.now + .milliseconds(2)
                    while clock.now < end {}
                    let mode = Subnormals.areFlushed && Self.half(.leastNormalMagnitude) == 0
                    let off = pthread_equal(pthread_self(), caller) == 0
                    state.withLock { $0.0[part] = mode; $0.1 += off ? 1 : 0 }
                }
            }
            if flushed { Subnormals.flushed(run) } else { run() }
            return state.withLock { (all: $0.0, offCaller: $0.1) }
        }
        var offCaller = 0
        for _ in 0..<20 where offCaller == 0 {
            let plain = modes(flushed: false), inside = modes(flushed: true)
            #expect(plain.all.allSatisfy { !$0 })
            #expect(inside.all.allSatisfy { $0 })
            offCaller = min(plain.offCaller, inside.offCaller)
        }
    }

    /// Both BLAS libraries (the caller-thread one the streams use, and the threaded one) follow
    /// the mode: a product of subnormal inputs is zero inside, the exact subnormal outside.
    @Test(arguments: [true, false]) func productsFollowTheMode(onCallerThread: Bool) {
        let (m, n, k) = (4, 8, 16)
        let tiny = Self.half(.leastNormalMagnitude)
        let a = [Float](repeating: tiny, count: m * k)
        let b = [Float](repeating: 1, count: k * n)
        func product() -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            let run = { BLAS.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n) }
            if onCallerThread { BLAS.onCallerThread(run) } else { run() }
            return c
        }
        let plain = product()
        // 16 halves of FLT_MIN sum to 8·FLT_MIN, a normal number, so compare with the exact sum.
        #expect(plain.allSatisfy { $0 == Float(k) * tiny })
        #expect(Subnormals.flushed(product).allSatisfy { $0 == 0 })
    }
}
