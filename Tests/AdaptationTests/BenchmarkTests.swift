import Foundation
import Testing
import Adaptation

/// The speed benchmark over the standard grid; heavy, so it runs only when asked
/// (`RADA_BENCHMARK=1 swift test -c release --filter BenchmarkTests`; `RADA_BENCHMARK=quick`
/// skips K = 1000 with D = 512; `RADA_BENCHMARK=B,K,D` times one configuration).
@Suite struct BenchmarkTests {
    static let mode = ProcessInfo.processInfo.environment["RADA_BENCHMARK"]

    @Test(.enabled(if: mode != nil)) func standardGrid() throws {
        var grid = AdaptationBenchmark.standardGrid.filter { Self.mode != "quick" || $0.classes * $0.dimension < 1000 * 512 }
        let numbers = (Self.mode ?? "").split(separator: ",").compactMap { Int($0) }
        if numbers.count == 3 { grid = [AdaptationBenchmark.Configuration(batch: numbers[0], classes: numbers[1], dimension: numbers[2])] }
        print("B,K,D,H,ms_step,ms_forward,GFLOP_step,GFLOPS")
        for c in grid {
            let m = try AdaptationBenchmark.measure(c, repeats: c.classes >= 1000 ? 1 : 3)
            print(String(format: "%d,%d,%d,%d,%.3f,%.3f,%.3f,%.1f", c.batch, c.classes, c.dimension, c.heads,
                         m.millisecondsPerStep, m.millisecondsPerForward, m.flopsPerStep / 1e9, m.gflopsPerSecond))
            #expect(m.millisecondsPerStep > 0)
        }
    }
}
