import Adaptation
import ArgumentParser
import Benchmarks
import Foundation
import RadaNumerics

/// `rada bench-adapt`: the RAda step's speed (ms per predict-then-adapt step, counted GFLOP,
/// fraction of the large-GEMM rate) and memory over a grid of batch sizes, class counts and
/// embedding widths. `tools/bench_adapt.py` runs it configuration by configuration beside the
/// PyTorch reference and `rada bench-backbone` on the same batch sizes.
struct BenchAdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-adapt",
        abstract: "Time the RAda adaptation step (forward + backward + Adam) on synthetic embeddings.")

    @Option(help: "Batch sizes B (repeatable).") var batch: [Int] = [1, 16, 64]
    @Option(help: "Class counts K (repeatable).") var classes: [Int] = [10, 100, 1000]
    @Option(help: "Embedding widths D (repeatable).") var dimension: [Int] = [128, 512]
    @Option(help: "Attention heads H (D must be divisible by it).") var heads: Int = 8
    @Option(help: "BLAS threads.") var threads: Int = 2
    @Option(help: "Timed steps per configuration, after one warm-up (the median and the best are reported).")
    var repeats: Int = 3
    @Option(help: "Side of the square SGEMM that gives the reference rate (0: skip).") var gemmSize: Int = 2048
    @Flag(help: "Print JSON lines instead of a table.") var json = false
    @Option(help: ArgumentHelp(
        "Also time a hyper-parameter setting NAME=OPTIONS beside the engine's defaults (repeatable), e.g. 'r2=--entropy-reliability-power 2'.",
        discussion: "OPTIONS are RAda hyper-parameter options (as for rada bench --variant). Each setting has its own stream on the same embeddings; their steps alternate round by round, so their ratio is measured under the same load."))
    var variant: [String] = []

    func validate() throws {
        if (batch + classes + dimension).contains(where: { $0 < 1 }) || threads < 1 || repeats < 1 || heads < 1 {
            throw ValidationError("--batch, --classes, --dimension, --heads, --threads and --repeats must be at least 1")
        }
        if let bad = dimension.first(where: { $0 % heads != 0 }) {
            throw ValidationError("--dimension \(bad) is not divisible by --heads \(heads)")
        }
        _ = try settings()
    }

    /// The engine's defaults, named `default`, then each `--variant`.
    /// A name goes into a JSON string as it is, so it is kept to characters that need no escape.
    func settings() throws -> [(name: String, hyperparameters: RAdaHyperparameters)] {
        let variants = try RAdaOptions.variants(variant, reserved: ["default"]).map { ($0.name, try $0.options.hyperparameters()) }
        if let bad = variants.first(where: { !$0.0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.+".contains($0)) } }) {
            throw ValidationError("--variant name \(bad.0) must be ASCII letters, digits, '-', '_', '.' or '+'")
        }
        return [("default", RAdaHyperparameters())] + variants
    }

    func run() throws {
        try BLAS.load()
        BLAS.setThreads(threads)
        var gemmRate: Double?
        if gemmSize > 0 {
            let rate = BLAS.squareSGEMMRate(n: gemmSize)
            gemmRate = rate
            emit(
                json: #"{"kind": "gemm", "n": \#(gemmSize), "threads": \#(threads), "core": "\#(BLAS.info.coreName)", "gflops": \#(fmt(rate, 2))}"#,
                text: "SGEMM \(gemmSize)² on \(threads) threads (\(BLAS.info.coreName)): \(fmt(rate, 1)) GFLOP/s")
        }
        let settings = try settings()
        if !json {
            print("    B     K     D   ms/step (best, median)   ms/forward   GFLOP/step   GFLOP/s   of GEMM   workspace MiB   peak RSS MiB   setting")
        }
        for d in dimension {
            for k in classes {
                for b in batch {
                    let c = AdaptationSpeed.Configuration(batch: b, classes: k, dimension: d, heads: heads)
                    let measured = try AdaptationSpeed.measure(c, settings: settings.map(\.hyperparameters), repeats: repeats)
                    for (setting, m) in zip(settings, measured) {
                        let fraction = gemmRate.map { m.gflopsPerSecond / $0 }
                        let peak = Double(ProcessResources.peakResidentBytes ?? 0) / 1_048_576
                        emit(
                            json: #"{"kind": "step", "setting": "\#(setting.name)", "threads": \#(threads), "batch": \#(b), "classes": \#(k), "dimension": \#(d), "heads": \#(heads), "ms_per_step": \#(fmt(m.millisecondsPerStep, 3)), "median_ms_per_step": \#(fmt(m.medianMillisecondsPerStep, 3)), "ms_per_forward": \#(fmt(m.millisecondsPerForward, 3)), "gflop_per_step": \#(fmt(m.flopsPerStep / 1e9, 4)), "gflops": \#(fmt(m.gflopsPerSecond, 2)), "gemm_fraction": \#(fraction.map { fmt($0, 3) } ?? "null"), "workspace_bytes": \#(m.workspaceBytes), "stream_bytes": \#(m.streamBytes), "peak_rss_mib": \#(fmt(peak, 1))}"#,
                            // `%s` takes a C string, not a Swift one: the share column is padded here.
                            text: String(
                                format: "%5d %5d %5d   %9.2f %9.2f   %10.2f   %10.3f   %7.1f   ", b, k, d,
                                m.millisecondsPerStep, m.medianMillisecondsPerStep, m.millisecondsPerForward, m.flopsPerStep / 1e9,
                                m.gflopsPerSecond)
                                + leftPadded(fraction.map { String(format: "%.0f %%", 100 * $0) } ?? "-", 7)
                                + String(format: "   %13.1f   %12.1f   ", Double(m.workspaceBytes) / 1_048_576, peak) + setting.name)
                    }
                }
            }
        }
    }

    private func emit(json line: String, text: String) { print(json ? line : text) }
}

private func fmt(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

private func leftPadded(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
