import Synchronization
import Testing
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

    /// Runs two parts that wait for each other (so they run on two threads at once) and returns,
    /// per part, whether it flushed subnormals, and whether the parts met.
    static func modesOfTwoParts() -> (flushed: [Bool], met: Bool) {
        let started = Atomic<Int>(0)
        let state = Mutex(([false, false], true))
        BLAS.parallel(parts: 2) { part in
            started.add(1, ordering: .sequentiallyConsistent)
            let clock = ContinuousClock(), deadline = clock.now + .seconds(5)
            while started.load(ordering: .sequentiallyConsistent) < 2 && clock.now < deadline {}
            let met = started.load(ordering: .sequentiallyConsistent) == 2
            let flushed = Subnormals.areFlushed && Self.half(.leastNormalMagnitude) == 0
            state.withLock { $0.0[part] = flushed; $0.1 = $0.1 && met }
        }
        return state.withLock { (flushed: $0.0, met: $0.1) }
    }

    /// The part on the other thread (a pool thread that existed before, in its own mode) runs
    /// under the caller's mode, and goes back to its own afterwards.
    @Test func parallelPartsRunUnderTheCallersMode() throws {
        let before = Self.modesOfTwoParts()
        try #require(before.met, "the two parts did not run at once")
        #expect(before.flushed == [false, false])
        let inside = Subnormals.flushed { Self.modesOfTwoParts() }
        #expect(inside.met)
        #expect(inside.flushed == [true, true])
        #expect(Self.modesOfTwoParts().flushed == [false, false])
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
