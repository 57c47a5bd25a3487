import Foundation

extension BLAS {
    /// The SGEMM rate, in GFLOP/s, of an n×n · n×n product on the current thread setting: the
    /// "large-GEMM rate" that speed goals are stated against. One warm-up call (thread start-up,
    /// page faults), then at least three timed calls and at least `seconds` of them.
    public static func squareSGEMMRate(n: Int, seconds: Double = 1) -> Double {
        let a = (0..<(n * n)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let b = a.reversed() as [Float]
        var c = [Float](repeating: 0, count: n * n)
        return measureRate(flopsPerCall: 2 * Double(n) * Double(n) * Double(n), seconds: seconds) {
            sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
        }
    }

    /// GFLOP/s of `call` (doing `flopsPerCall` each time): one warm-up call (thread start-up,
    /// page faults), then at least three timed calls and at least `seconds` of them.
    public static func measureRate(flopsPerCall: Double, seconds: Double, _ call: () -> Void) -> Double {
        call()
        var reps = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        while reps < 3 || elapsed < seconds {
            call()
            reps += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        return flopsPerCall * Double(reps) / elapsed / 1e9
    }
}
