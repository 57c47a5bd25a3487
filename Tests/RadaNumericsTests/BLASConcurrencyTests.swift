import Dispatch
import Synchronization
import Testing
@testable import RadaNumerics

/// Products stay exact when the threaded OpenBLAS and the caller-thread library run at the same time, from
/// several threads, as a server's tower pass and its streams' steps do.
@Suite struct BLASConcurrencyTests {
    struct Problem {
        let m: Int, n: Int, k: Int, transB: Bool
        let a: [Float], b: [Float], expected: [Float]

        init(m: Int, n: Int, k: Int, transB: Bool, random: inout TestRandom) {
            (self.m, self.n, self.k, self.transB) = (m, n, k, transB)
            a = random.array(m * k)
            b = random.array(k * n)
            var expected = [Float](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(transB ? b[j * k + p] : b[p * n + j]) }
                expected[i * n + j] = Float(sum)
            } }
            self.expected = expected
        }

        /// Largest absolute error of one product against the Float64 reference.
        func error() -> Float {
            var c = [Float](repeating: 0, count: m * n)
            BLAS.sgemm(transB: transB, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: transB ? k : n, c: &c, ldc: n)
            return zip(c, expected).map { abs($0 - $1) }.max() ?? 0
        }
    }

    @Test func threadedAndSerialLibrariesAtOnceStayExact() {
        var random = TestRandom(seed: 11)
        // A mask step's shapes (rank-one bias, row times matrix, scores against transposed keys)
        // and a tower's.
        let step = [(120, 72, 1, false), (1, 72, 120, false), (40, 40, 6, true), (40, 6, 40, false)]
            .map { Problem(m: $0.0, n: $0.1, k: $0.2, transB: $0.3, random: &random) }
        let tower = Problem(m: 100, n: 384, k: 192, transB: false, random: &random)
        let worst = Mutex<Float>(0)
        BLAS.withThreads(2) {
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                for _ in 0..<150 {
                    let error = worker == 0
                        ? tower.error()
                        : BLAS.onCallerThread { step.map { $0.error() }.max()! }
                    worst.withLock { $0 = max($0, error) }
                }
            }
        }
        // Values in [-1, 1), k ≤ 192: float32 reordering error stays under 1e-5; a wrong tile is ~1e-2.
        #expect(worst.withLock { $0 } < 1e-5)
    }
}

/// The caller-thread library is never a second OpenBLAS: one beside the threaded copy returned
/// wrong products under parallel steps (Docs/architecture.md, "Heads in parallel").
@Test func callerThreadLibraryIsNotASecondOpenBLAS() throws {
    let library = try #require(BLAS.info.callerThreadLibrary, "no caller-thread library (make deps installs libblis4-serial)")
    #expect(!library.lowercased().contains("openblas"))
}
