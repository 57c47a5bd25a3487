import Adaptation
import Benchmarks
import Foundation
import RadaNumerics
import Testing

/// The adaptation step's speed benchmark (`rada bench-adapt`). The full grid is heavy, so it runs
/// only when asked (`RADA_BENCHMARK=1 swift test -c release --filter AdaptationSpeedTests`;
/// `RADA_BENCHMARK=quick` skips K = 1000 with D = 512; `RADA_BENCHMARK=B,K,D` times one
/// configuration).
@Suite struct AdaptationSpeedTests {
    static let mode = ProcessInfo.processInfo.environment["RADA_BENCHMARK"]
    /// Centring's per-request flops for the two-image requests below (B 2, K 5, D 16), with
    /// 2/256 of a refresh of W.
    static let centring = Double(2 * 2 * 5 * 16 + 2 * 2 * 16 * 16) + 2.0 / 256 * Double(21 * 2 * 16 * 16 * 16)
    /// The default memory of domains' (the per-class grouping 2·B·K·D, the sums B·D, and a
    /// shift's distances to its 16 + 1 keys of K groups, 3·17·K·D).
    static let memory = Double(2 * 2 * 5 * 16 + 2 * 16 + 3 * 17 * 5 * 16)

    /// A small configuration measured: the counted work is the cost model's, the median is never
    /// below the best, and the memory figures are the stream's own.
    @Test func measuresOneConfiguration() throws {
        let c = AdaptationSpeed.Configuration(batch: 2, classes: 5, dimension: 16, heads: 4)
        let m = try AdaptationSpeed.measure(c, repeats: 3)
        #expect(m.configuration == c)
        #expect(m.millisecondsPerStep > 0 && m.millisecondsPerForward > 0 && m.medianMillisecondsPerStep >= m.millisecondsPerStep)
        // The step, the default's class Gaussians, centring's zero-shot product and whitening
        // (2·B·K·D + 2·B·D², and B/256 of a refresh of W; the prior correction needs 8 images)
        // and the memory of domains.
        #expect(m.flopsPerStep == StepCost.flops(batch: 2, classes: 5, dimension: 16) + ClassGaussians.flops(batch: 2, classes: 5, dimension: 16) + Self.centring + Self.memory)
        #expect(abs(m.gflopsPerSecond - m.flopsPerStep / m.millisecondsPerStep / 1e6) < 1e-9)
        let stream = try StreamState(
            labels: (0..<5).map(String.init), textEmbeddings: Matrix(rows: 5, cols: 16, storage: [Float](repeating: 0.25, count: 80)),
            logitScale: 100, heads: 4)
        #expect(m.workspaceBytes == stream.workspaceBytes(batch: 2) && m.streamBytes == stream.memoryBytes)
        #expect(AdaptationSpeed.standardGrid.count == 18 && Set(AdaptationSpeed.standardGrid.map(\.dimension)) == [128, 512])
    }

    /// Settings timed side by side each get their own stream with their own hyper-parameters:
    /// a replay window of 8 adds exactly its 8 × D floats to the stream and its rows to the
    /// counted work, while the default's figures are the single-setting measurement's.
    @Test func measuresSettingsSideBySide() throws {
        let c = AdaptationSpeed.Configuration(batch: 2, classes: 5, dimension: 16, heads: 4)
        var replay = RAdaHyperparameters()
        replay.replayImages = 8
        let pair = try AdaptationSpeed.measure(c, settings: [RAdaHyperparameters(), replay], repeats: 2)
        let alone = try AdaptationSpeed.measure(c, repeats: 2)
        #expect(pair.count == 2 && pair.allSatisfy { $0.configuration == c && $0.medianMillisecondsPerStep >= $0.millisecondsPerStep })
        #expect(pair[0].flopsPerStep == alone.flopsPerStep && pair[0].streamBytes == alone.streamBytes)
        #expect(pair[1].streamBytes - pair[0].streamBytes == 8 * 16 * MemoryLayout<Float>.stride)
        #expect(pair[1].flopsPerStep == StepCost.flops(batch: 8, classes: 5, dimension: 16) + ClassGaussians.flops(batch: 2, classes: 5, dimension: 16) + Self.centring + Self.memory)
    }

    @Test(.enabled(if: mode != nil)) func standardGrid() throws {
        var grid = AdaptationSpeed.standardGrid.filter { Self.mode != "quick" || $0.classes * $0.dimension < 1000 * 512 }
        let numbers = (Self.mode ?? "").split(separator: ",").compactMap { Int($0) }
        if numbers.count == 3 { grid = [AdaptationSpeed.Configuration(batch: numbers[0], classes: numbers[1], dimension: numbers[2])] }
        print("B,K,D,H,ms_step,ms_forward,GFLOP_step,GFLOPS")
        for c in grid {
            let m = try AdaptationSpeed.measure(c, repeats: c.classes >= 1000 ? 1 : 3)
            print(String(format: "%d,%d,%d,%d,%.3f,%.3f,%.3f,%.1f", c.batch, c.classes, c.dimension, c.heads,
                         m.millisecondsPerStep, m.millisecondsPerForward, m.flopsPerStep / 1e9, m.gflopsPerSecond))
            #expect(m.flopsPerStep == StepCost.flops(batch: c.batch, classes: c.classes, dimension: c.dimension))
            #expect(m.millisecondsPerStep > m.millisecondsPerForward, "a step does a forward and more")
        }
    }
}
