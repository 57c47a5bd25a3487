import Testing
import RadaNumerics
@testable import Adaptation

/// A stream's products never reach the threaded BLAS library, whose worker threads are the
/// backbone's: a step that used them would wait for (and spin) threads a tower pass holds, and its
/// bits would depend on that library's thread count. Counted per thread by the BLAS loader.
@Suite(.enabled(if: BLAS.hasCallerThreadLibrary, "needs a caller-thread library (libblis4-serial)"))
struct StreamNumericsThreadTests {
    @Test func theCounterSeesTheThreadedLibrary() {
        let a = [Float](repeating: 1, count: 4), b = [Float](repeating: 2, count: 4)
        var c = [Float](repeating: 0, count: 4)
        let before = BLAS.threadedLibraryCallsOnThisThread
        BLAS.sgemm(m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, c: &c, ldc: 2)
        #expect(BLAS.threadedLibraryCallsOnThisThread == before + 1)
        BLAS.onCallerThread { BLAS.sgemm(m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, c: &c, ldc: 2) }
        #expect(BLAS.threadedLibraryCallsOnThisThread == before + 1)
        #expect(c == [4, 4, 4, 4])
    }

    /// The default settings (centring, the class Gaussians, the memory of domains) and the
    /// whitening, through every public entry point: unlabelled and labelled steps, predictions.
    @Test(arguments: [false, true]) func aStreamsWorkStaysOnItsThread(whitening: Bool) throws {
        var task = SyntheticTask(classes: 10, dimension: 64, seed: 11)
        var settings = RAdaHyperparameters()
        #expect(settings.gaussians.isOn && settings.centring.isOn)
        if whitening { settings.centring.whitening = 0.5 }
        var stream = try task.stream(hyperparameters: settings)
        let before = BLAS.threadedLibraryCallsOnThisThread
        for round in 0..<12 {
            let (images, labels) = task.images(16, noise: 2.5)
            _ = try stream.process(images, labels: round % 4 == 3 ? labels : nil)
            _ = try stream.classify(images)
            _ = try stream.zeroShotLogits(images)
            _ = try stream.centredFeatures(images)
        }
        #expect(!stream.gaussians.isEmpty, "the class Gaussians learnt")
        #expect(BLAS.threadedLibraryCallsOnThisThread == before)
    }
}
