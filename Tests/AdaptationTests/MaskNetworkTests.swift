import Dispatch
import Foundation
import RadaNumerics
import Synchronization
import Testing
@testable import Adaptation

@Suite struct MaskNetworkTests {
    static func setUp(chunkRows: Int) throws -> (MaskNetwork<Float>, RAdaMask<Float>, [Float]) {
        let task = SyntheticTask(classes: 7, dimension: 8)
        var network = try MaskNetwork<Float>(text: task.text.storage, classes: 7, dimension: 8, heads: 2, logitScale: 13)
        network.chunkRows = chunkRows
        var mask = RAdaMask<Float>(dimension: 8, seed: 3)
        var generator = SeededGenerator(seed: 4)
        for i in RAdaMask<Float>.weightRange(.output, dimension: 8) { mask.values[i] = Float(generator.nextSymmetric(bound: 0.3)) }
        var images = SyntheticTask(classes: 7, dimension: 8, seed: 8)
        return (network, mask, images.images(5).0.storage)
    }

    /// Splitting the batch into chunks (one image, two images, all five) gives the same logits
    /// and gradients to float rounding (GEMM blocking may differ with the row count).
    @Test(arguments: [7, 14, 1000]) func chunkingDoesNotChangeResults(_ chunkRows: Int) throws {
        let (reference, mask, f) = try Self.setUp(chunkRows: 1000)
        let (chunked, _, _) = try Self.setUp(chunkRows: chunkRows)
        #expect(chunked.imagesPerChunk(batch: 5) == min(5, chunkRows / 7))
        let a = reference.forward(mask: mask, features: f, batch: 5), b = chunked.forward(mask: mask, features: f, batch: 5)
        #expect(relativeError(a.logits[...], b.logits[...]) < 1e-6)
        let g = (0..<35).map { Float($0 % 5) - 2 }
        let deviation = [Float](repeating: 0.1, count: 5)
        let ga = reference.gradient(mask: mask, features: f, batch: 5, logitGradient: g, deviationGradient: deviation)
        let gb = chunked.gradient(mask: mask, features: f, batch: 5, logitGradient: g, deviationGradient: deviation)
        #expect(relativeError(ga[...], gb[...]) < 1e-6)
    }

    /// Reusing the forward pass's last chunk gives the same gradient bit for bit, for batches of
    /// one chunk and of several.
    @Test(arguments: [7, 14, 1000]) func retainedChunkGivesTheSameGradient(_ chunkRows: Int) throws {
        let (network, mask, f) = try Self.setUp(chunkRows: chunkRows)
        let (result, retained) = network.forward(mask: mask, features: f, batch: 5, retainLastChunk: true)
        #expect(result == network.forward(mask: mask, features: f, batch: 5))
        let g = (0..<35).map { Float($0 % 5) - 2 }
        let deviation = [Float](repeating: 0.1, count: 5)
        let plain = network.gradient(mask: mask, features: f, batch: 5, logitGradient: g, deviationGradient: deviation)
        let reused = network.gradient(mask: mask, features: f, batch: 5, logitGradient: g, deviationGradient: deviation, retained: retained)
        #expect(plain == reused)
    }

    /// With O exactly zero the mask is the constant 1, so only O receives gradient: the
    /// query/key/value maps sit behind O's zero weight.
    @Test func onlyTheOutputMapLearnsFirst() throws {
        let (network, _, f) = try Self.setUp(chunkRows: 512)
        let mask = RAdaMask<Float>(dimension: 8, seed: 3)
        let forward = network.forward(mask: mask, features: f, batch: 5)
        #expect(forward.maxDeviation == [0, 0, 0, 0, 0])
        let g = (0..<35).map { Float($0 % 3) - 1 }
        let gradient = network.gradient(mask: mask, features: f, batch: 5, logitGradient: g, deviationGradient: nil)
        for map in RAdaMap.allCases where map != .output {
            #expect(gradient[RAdaMask<Float>.weightRange(map, dimension: 8)].allSatisfy { $0 == 0 })
            #expect(gradient[RAdaMask<Float>.biasRange(map, dimension: 8)].allSatisfy { $0 == 0 })
        }
        #expect(gradient[RAdaMask<Float>.weightRange(.output, dimension: 8)].contains { $0 != 0 })
    }

    /// The step's FLOP count by hand for B = 1, K = 10, D = 16: forward 8KD² + 8K²D + 2KD² + 2BD²
    /// = 38,912, no chunk recomputed (queries only: 5,632), backward 10KD² + 18K²D + 5,632 =
    /// 60,032. Chunks of one image (chunkRows = K) recompute all but the last of B = 3: two
    /// images' forward, 2 × 33,280 more than one chunk of three.
    @Test func stepCostCountsByHand() {
        #expect(StepCost.flops(batch: 1, classes: 10, dimension: 16) == 104_576)
        let oneChunk = StepCost.flops(batch: 3, classes: 10, dimension: 16, chunkRows: 30)
        let threeChunks = StepCost.flops(batch: 3, classes: 10, dimension: 16, chunkRows: 10)
        #expect(threeChunks - oneChunk == 2 * 33_280)
    }
}

/// The vectorised flat softmax against a plain Float64 softmax, on lengths around its lane width.
@Test(arguments: [1, 15, 16, 17, 1000, 4099]) func flatSoftmaxMatchesDefinition(_ n: Int) {
    var generator = SeededGenerator(seed: UInt64(n))
    let x = (0..<n).map { _ in Float(generator.nextSymmetric(bound: 30)) }
    var y = x
    y.withUnsafeMutableBufferPointer { Float.softmax($0.baseAddress!, count: n, scale: 0.7) }
    let m = x.map { 0.7 * Double($0) }.max()!
    let e = x.map { Foundation.exp(0.7 * Double($0) - m) }
    let total = e.reduce(0, +)
    let worst = (0..<n).map { abs(Double(y[$0]) - e[$0] / total) }.max()!
    #expect(worst <= 1e-6 * e.max()! / total)
    #expect(abs(y.reduce(0, +) - 1) < 1e-4)
}

/// Heads running in parallel lanes (each with its own scratch, BLAS single-threaded) give the
/// same logits and gradients, bit for bit, as heads run one after another: every head writes its
/// own columns, and the per-head sums over images keep their order. With 8 images a chunk is 320
/// rows, so its maps run as two row blocks, in parallel lanes or one after the other; at D = 96
/// the query/key/value map's gradient (3D = 288 rows) is two blocks too.
@Suite struct HeadLaneTests {
    @Test(arguments: [(2, 3, 24), (3, 3, 24), (2, 8, 24), (3, 8, 96)]) func lanesDoNotChangeResults(_ lanes: Int, _ batch: Int, _ d: Int) throws {
        let k = 40
        let task = SyntheticTask(classes: k, dimension: d)
        var serial = try MaskNetwork<Float>(text: task.text.storage, classes: k, dimension: d, heads: 4, logitScale: 13)
        serial.headLaneLimit = 1
        var parallel = serial
        parallel.headLaneLimit = lanes
        #expect(serial.headLanes() == 1 && parallel.headLanes() == lanes)
        var mask = RAdaMask<Float>(dimension: d, seed: 3)
        var generator = SeededGenerator(seed: 5)
        for i in mask.values.indices { mask.values[i] += Float(generator.nextSymmetric(bound: 0.05)) }
        var images = SyntheticTask(classes: k, dimension: d, seed: 9)
        let f = images.images(batch).0.storage
        let a = serial.forward(mask: mask, features: f, batch: batch)
        let b = parallel.forward(mask: mask, features: f, batch: batch)
        #expect(a == b)
        let g = (0..<(batch * k)).map { Float($0 % 7) - 3 }
        let deviation = [Float](repeating: 0.1, count: batch)
        let ga = serial.gradient(mask: mask, features: f, batch: batch, logitGradient: g, deviationGradient: deviation)
        let gb = parallel.gradient(mask: mask, features: f, batch: batch, logitGradient: g, deviationGradient: deviation)
        #expect(ga == gb)
        #expect(ga.contains { $0 != 0 })
        #expect(parallel.workspaceBytes(batch: batch, backward: true) > serial.workspaceBytes(batch: batch, backward: true))
    }

    /// The workspace's buffers come from the shared scratch pool and are not cleared between
    /// uses. At K = 128, D = 128 every K×D, K×3D and K×K buffer is pooled (64 KiB and more);
    /// filling the pool's free buffers of those sizes with NaN, then with huge values, between
    /// runs must leave the logits and gradients bit for bit as they were (a buffer read before
    /// it is written would carry the poison through).
    @Test(arguments: [1, 2]) func reusedWorkspaceIsInvisible(_ lanes: Int) throws {
        let k = 128, d = 128, batch = 3
        let task = SyntheticTask(classes: k, dimension: d)
        var network = try MaskNetwork<Float>(text: task.text.storage, classes: k, dimension: d, heads: 4, logitScale: 13)
        network.headLaneLimit = lanes
        var mask = RAdaMask<Float>(dimension: d, seed: 3)
        var generator = SeededGenerator(seed: 6)
        for i in mask.values.indices { mask.values[i] += Float(generator.nextSymmetric(bound: 0.05)) }
        var images = SyntheticTask(classes: k, dimension: d, seed: 10)
        let f = images.images(batch).0.storage
        let g = (0..<(batch * k)).map { Float($0 % 7) - 3 }
        let deviation = [Float](repeating: 0.1, count: batch)
        func run() -> (MaskForward<Float>, [Float], [Float]) {
            let (forward, retained) = network.forward(mask: mask, features: f, batch: batch, retainLastChunk: true)
            let reused = network.gradient(mask: mask, features: f, batch: batch, logitGradient: g, deviationGradient: deviation, retained: retained)
            let fresh = network.gradient(mask: mask, features: f, batch: batch, logitGradient: g, deviationGradient: deviation)
            return (forward, reused, fresh)
        }
        /// Takes several free buffers of every size the workspace uses, fills them, gives them back.
        func poison(_ value: Float) {
            let sizes = [k * d, 3 * k * d, k * k, batch * k * d, 3 * batch * k * d]
            let taken = sizes.flatMap { count in (0..<4).map { _ in (ScratchPool.shared.take(Float.self, count: count), count) } }
            for (pointer, count) in taken {
                pointer.update(repeating: value, count: count)
                ScratchPool.shared.give(pointer, count: count)
            }
        }
        let first = run()
        let consistent = first.1 == first.2 && first.1.contains { $0 != 0 } && first.0.logits.allSatisfy(\.isFinite)
        #expect(consistent, "the first run's gradients (retained and recomputed) differ, vanish or its logits are not finite")
        for value in [Float.nan, 1e30] {
            poison(value)
            let again = run()
            let sameLogits = again.0 == first.0, sameGradients = again.1 == first.1 && again.2 == first.1
            #expect(sameLogits, "logits after poisoning the pool with \(value)")
            #expect(sameGradients, "gradients after poisoning the pool with \(value)")
        }
    }

    /// Products in row blocks (`LinearAlgebra.gemm(lanes:…)`, `affine`) equal one unblocked
    /// product to Float32 rounding (1e-5 of each entry's magnitude), in both layouts of A, over
    /// one lane or three, for 600 rows (three blocks, the last one short).
    @Test func rowBlocksEqualOneProduct() {
        var generator = SeededGenerator(seed: 12)
        let (m, n, k) = (600, 40, 70)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float(generator.nextSymmetric(bound: 1)) } }
        let a = values(m * k), b = values(k * n), c0 = values(m * n), bias = values(n)
        let ones = [Float](repeating: 1, count: m)
        var aT = [Float](repeating: 0, count: k * m)
        for i in 0..<m { for p in 0..<k { aT[p * m + i] = a[i * k + p] } }
        var expected = c0
        BLAS.onCallerThread { Float.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: n, beta: 2, c: &expected, ldc: n) }
        var bT = [Float](repeating: 0, count: n * k)
        for p in 0..<k { for j in 0..<n { bT[j * k + p] = b[p * n + j] } }
        var expectedAffine = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var sum = Double(bias[j])
            for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[p * n + j]) }
            expectedAffine[i * n + j] = Float(sum)
        } }
        for lanes in [1, 3] {
            for transA in [false, true] {
                var c = c0
                BLAS.onCallerThread {
                    LinearAlgebra<Float>.gemm(
                        lanes: lanes, transA: transA, transB: false, m: m, n: n, k: k, alpha: 0.5, a: transA ? aT : a, lda: transA ? m : k,
                        b: b, ldb: n, beta: 2, c: &c, ldc: n)
                }
                let worst = zip(c, expected).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(worst <= 1e-5, "lanes \(lanes) transA \(transA): \(worst)")
            }
            var out = [Float](repeating: .nan, count: m * n)
            BLAS.onCallerThread {
                LinearAlgebra<Float>.affine(a, rows: m, inCols: k, lda: k, weight: bT, bias: bias, outCols: n, out: &out, ldo: n, ones: ones, lanes: lanes)
            }
            let worst = zip(out, expectedAffine).map { abs($0 - $1) / max(1, abs($1)) }.max()!
            #expect(worst <= 1e-5, "affine, lanes \(lanes): \(worst)")
        }
    }

    /// The lanes' products run on the caller-thread library: the threaded library's thread count (the
    /// backbone's) stays what it was while they run (it used to drop to 1 for the process). Every
    /// test that changes the count does so in `BLAS.withThreads`, so none does while this runs.
    @Test func lanesLeaveTheThreadedLibraryAlone() throws {
        try #require(BLAS.hasCallerThreadLibrary, "needs libblis4-serial (make deps installs it)")
        let task = SyntheticTask(classes: 64, dimension: 16)
        var network = try MaskNetwork<Float>(text: task.text.storage, classes: 64, dimension: 16, heads: 4, logitScale: 13)
        network.headLaneLimit = 2
        let inside = Mutex<Set<Int>>([])
        let after = BLAS.withThreads(2) {
            network.forEachHead(lanes: 2) { _, _ in
                let threads = BLAS.info.threads
                inside.withLock { _ = $0.insert(threads) }
            }
            return BLAS.info.threads
        }
        #expect(inside.withLock { $0 } == [2])
        #expect(after == 2)
    }
}


/// Steps of several streams at once (the adaptation pool runs them in parallel) give every stream
/// the same bits as a step run alone: the caller-thread BLAS must be safe to enter from several
/// threads, which is why it is BLIS and never a second OpenBLAS (Docs/architecture.md).
@Suite struct ConcurrentStepTests {
    func pass<T: RAdaScalar>(_ type: T.Type, classes: Int, dimension: Int, lanes: Int) throws -> @Sendable () -> [T] {
        var generator = SeededGenerator(seed: 21)
        let text = (0..<(classes * dimension)).map { _ in T(generator.nextSymmetric(bound: 0.3)) }
        var network = try MaskNetwork<T>(text: text, classes: classes, dimension: dimension, heads: 2, logitScale: 13)
        network.headLaneLimit = lanes
        var mask = RAdaMask<T>(dimension: dimension, seed: 3)
        for i in mask.values.indices { mask.values[i] += T(generator.nextSymmetric(bound: 0.05)) }
        let batch = 3
        let f = (0..<(batch * dimension)).map { _ in T(generator.nextSymmetric(bound: 0.4)) }
        let g = (0..<(batch * classes)).map { T($0 % 5) - 2 }
        let frozen = network, m = mask
        return {
            frozen.forward(mask: m, features: f, batch: batch).logits
                + frozen.gradient(mask: m, features: f, batch: batch, logitGradient: g, deviationGradient: [T](repeating: 0.1, count: batch))
        }
    }

    @Test func concurrentStepsMatchSoloSteps() throws {
        let small = try pass(Double.self, classes: 5, dimension: 8, lanes: 1)
        let wide = try pass(Float.self, classes: 40, dimension: 16, lanes: 2)
        let (soloSmall, soloWide) = (small(), wide())
        let mismatches = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for _ in 0..<50 {
                let same = worker % 2 == 0 ? small() == soloSmall : wide() == soloWide
                if !same { mismatches.add(1, ordering: .relaxed) }
            }
        }
        #expect(mismatches.load(ordering: .relaxed) == 0)
    }
}
