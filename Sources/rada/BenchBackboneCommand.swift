import ArgumentParser
import CLIP
import Foundation
import RadaNumerics

/// `rada bench-backbone`: image-tower speed (ms/image, images/s) per batch size and thread count,
/// with model loading measured on its own. `tools/bench_backbone.py` runs it beside its peers.
struct BenchBackboneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-backbone",
        abstract: "Time CLIP image embedding per batch size and BLAS thread count (load excluded).")

    @Option(help: "CLIP checkpoint directory (Hugging Face or OpenCLIP layout).") var model: String
    @Option(help: "Projection arithmetic: \(TowerPrecision.autoSummary), fp32, bf16 or fp16. Default: RADA_PRECISION, else auto.") var precision: String?
    @Option(help: "Batch sizes to time (repeatable).") var batch: [Int] = [1, 8]
    @Option(help: "BLAS thread counts to time (repeatable).") var threads: [Int] = [1, 2]
    @Option(help: "Timed repetitions per configuration (after one warm-up).") var repeats: Int = 5
    @Option(help: "Also keep repeating until this many seconds have passed per configuration.") var seconds: Double = 0
    @Flag(help: "Also time the image tower's own GEMM shapes (GFLOP/s per shape) on OpenBLAS and on each packed fp32 kernel this CPU runs.") var gemmShapes = false
    @Flag(help: "Also time each stage of a pass (projections, attention, layer norm, GELU, patching) at every batch and thread count.") var stages = false
    @Flag(help: "Print JSON lines instead of a table.") var json = false
    @Flag(help: "After loading, time nothing on its own: answer each 'THREADS BATCH' line of standard input with one pass's wall seconds, as a JSON line (tools/bench_backbone.py --interleave alternates such passes with its peers').")
    var passesFromStdin = false

    func validate() throws {
        if batch.contains(where: { $0 < 1 }) || threads.contains(where: { $0 < 1 }) || repeats < 1 {
            throw ValidationError("--batch, --threads and --repeats must be at least 1")
        }
    }

    /// MiB of a byte count that may be unknown (0 then, as the report has always printed).
    static func mebibytes(_ bytes: Int?) -> Double { Double(bytes ?? 0) / 1_048_576 }

    func run() throws {
        try BLAS.load()
        let clock = ContinuousClock()
        let rssBefore = Self.mebibytes(ProcessResources.residentBytes)
        var loaded: CLIPModel?
        let choice = try TowerPrecision.resolve(flag: precision)
        let towerPrecision = choice.precision
        let fp32 = try FP32Kernel.resolve()
        let kernel = towerPrecision == .float32 ? "fp32 (\(fp32.kernel))" : "\(towerPrecision)"
        if !json {
            print("CPU \(CPUModel.name); towers in \(kernel): \(choice.reason)")
            if towerPrecision == .float32 { print("fp32 products on \(fp32.kernel): \(fp32.reason)") }
        }
        let loadTime = try clock.measure {
            loaded = try CLIPModel.load(from: URL(fileURLWithPath: model), precision: towerPrecision, fp32: fp32.kernel)
        }
        let clip = loaded!
        let rssAfter = Self.mebibytes(ProcessResources.residentBytes)
        let info = BLAS.info
        emit(
            json: #"{"kind": "load", "impl": "rada", "precision": "\#(towerPrecision.name)", "kernel": "\#(kernel)", "cpu": "\#(CPUModel.name)", "load_s": \#(fmt(loadTime.seconds, 3)), "rss_mib": \#(fmt(rssAfter, 1)), "rss_model_mib": \#(fmt(rssAfter - rssBefore, 1)), "core": "\#(info.coreName)"}"#,
            text: "load \(fmt(loadTime.seconds, 3)) s, resident \(fmt(rssAfter, 1)) MiB (+\(fmt(rssAfter - rssBefore, 1)) MiB), BLAS kernels \(info.coreName)")

        let config = clip.config
        let perImage = config.channels * config.imageSize * config.imageSize
        if passesFromStdin { return try answerPasses(clip, perImage: perImage) }
        let pixels = Self.pixels(count: (batch.max() ?? 1) * perImage)
        for threadCount in threads {
            BLAS.setThreads(threadCount)
            for size in batch {
                let input = Array(pixels[0..<(size * perImage)])
                _ = clip.embedImages(pixels: input, count: size)  // warm-up: pages, BLAS threads
                var times: [Double] = []
                let start = clock.now
                let cpuStart = ProcessResources.cpuSeconds()
                while times.count < repeats || (clock.now - start).seconds < seconds {
                    times.append(clock.measure { _ = clip.embedImages(pixels: input, count: size) }.seconds)
                }
                let cpuMsPerImage = (ProcessResources.cpuSeconds() - cpuStart) * 1000 / Double(times.count * size)
                if stages { timeStages(clip, input: input, batch: size, threads: threadCount) }
                let median = times.sorted()[times.count / 2]
                let msPerImage = median * 1000 / Double(size)
                emit(
                    json: #"{"kind": "embed", "impl": "rada", "threads": \#(threadCount), "batch": \#(size), "reps": \#(times.count), "ms_per_batch": \#(fmt(median * 1000, 2)), "ms_per_image": \#(fmt(msPerImage, 2)), "images_per_s": \#(fmt(1000 / msPerImage, 2)), "best_ms_per_batch": \#(fmt(times.min()! * 1000, 2)), "cpu_ms_per_image": \#(fmt(cpuMsPerImage, 2))}"#,
                    text: "threads \(threadCount) batch \(size): \(fmt(msPerImage, 2)) ms/image, \(fmt(1000 / msPerImage, 2)) images/s (median of \(times.count)); CPU \(fmt(cpuMsPerImage, 2)) ms/image")
            }
        }
        if gemmShapes { try timeShapes(config) }
    }

    /// One pass per request line, timed alone: the caller decides the order of implementations,
    /// so that each of rada's passes lies between its peers' in time and a busy spell of a shared
    /// host falls on both sides of a comparison. Lines that are not two counts in range end the
    /// run with an error, not a pass.
    private func answerPasses(_ clip: CLIPModel, perImage: Int) throws {
        let clock = ContinuousClock()
        var inputs: [Int: [Float]] = [:]
        fflush(nil)  // stdout is a pipe (fully buffered): the caller waits for the load line
        while let line = readLine() {
            let fields = line.split(separator: " ").compactMap { Int($0) }
            guard fields.count == 2, (1...256).contains(fields[0]), (1...512).contains(fields[1]) else {
                throw ValidationError("expected 'THREADS BATCH' (1–256 threads, 1–512 images), got '\(line)'")
            }
            let (threadCount, size) = (fields[0], fields[1])
            BLAS.setThreads(threadCount)
            let input = inputs[size] ?? Self.pixels(count: size * perImage)
            inputs[size] = input
            let seconds = clock.measure { _ = clip.embedImages(pixels: input, count: size) }.seconds
            print(#"{"kind": "pass", "threads": \#(threadCount), "batch": \#(size), "seconds": \#(fmt(seconds, 6))}"#)
            fflush(nil)
        }
    }

    /// Each stage's time and share over `repeats` profiled passes, each pass profiled alone: the
    /// medians of the per-pass figures, so that on a host whose speed changes between passes
    /// (seen on shared machines: passes of 9 and of 17 ms/image in one run) the slow spell's
    /// passes do not set the shares, as they did in one profile summed over the passes. The share of the weight products (the block projections and
    /// the patch embedding's) against everything else, with its range over the passes.
    private func timeStages(_ clip: CLIPModel, input: [Float], batch: Int, threads: Int) {
        let profiles = (0..<repeats).map { _ in
            let profile = TowerProfile()
            _ = clip.embedImages(pixels: input, count: batch, profile: profile)
            return profile
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let perPass = profiles.map(\.shares)
        func shareOf(_ include: (TowerProfile.Stage) -> Bool) -> [Double] {
            perPass.map { $0.filter { include($0.stage) }.map(\.share).reduce(0, +) }
        }
        let projections = shareOf(\.isProjection), products = shareOf(\.isWeightProduct)
        for (index, stage) in TowerProfile.Stage.allCases.enumerated() {
            let ms = median(profiles.map { Double($0.nanoseconds[stage, default: 0]) / 1e6 / Double(batch) })
            let share = median(perPass.map { $0[index].share })
            emit(
                json: #"{"kind": "stage", "impl": "rada", "threads": \#(threads), "batch": \#(batch), "stage": "\#(stage.rawValue)", "ms_per_image": \#(fmt(ms, 3)), "share": \#(fmt(share, 4))}"#,
                text: "  \(stage.rawValue): \(fmt(ms, 2)) ms/image, \(fmt(100 * share, 1)) %")
        }
        let rest = products.map { 1 - $0 }
        if json {
            print(#"{"kind": "stage_summary", "impl": "rada", "threads": \#(threads), "batch": \#(batch), "passes": \#(repeats), "not_weight_products_share": \#(fmt(median(rest), 4)), "not_weight_products_min": \#(fmt(rest.min()!, 4)), "not_weight_products_max": \#(fmt(rest.max()!, 4))}"#)
        } else {
            print("  (medians over \(repeats) passes, each profiled alone)")
            print("  block projections \(fmt(100 * median(projections), 1)) %, everything else \(fmt(100 * (1 - median(projections)), 1)) %")
            print("  weight products (GEMM: projections and patch embedding) \(fmt(100 * median(products), 1)) %, everything else (not GEMM) \(fmt(100 * median(rest), 1)) % (\(fmt(100 * rest.min()!, 1))–\(fmt(100 * rest.max()!, 1)) % over the passes)")
        }
    }

    /// GFLOP/s at the projections of one layer (X · W with X of batch · tokens rows): OpenBLAS
    /// SGEMM (which packs W on every call) against each packed fp32 kernel (W packed beforehand).
    private func timeShapes(_ config: CLIPConfig) throws {
        let tower = config.vision
        let tokens = (config.imageSize / config.patchSize) * (config.imageSize / config.patchSize) + 1
        let clock = ContinuousClock()
        let kernels = PackedMatrix.Kernel.available.filter { $0 != .portable }
        for threadCount in threads {
            BLAS.setThreads(threadCount)
            for size in batch {
                let m = size * tokens
                let shapes = [
                    ("qkv", tower.width, 3 * tower.width), ("out", tower.width, tower.width),
                    ("fc1", tower.width, tower.mlpWidth), ("fc2", tower.mlpWidth, tower.width),
                ]
                for (name, k, n) in shapes {
                    let a = Self.pixels(count: m * k)
                    let b = Self.pixels(count: k * n)
                    var c = [Float](repeating: 0, count: m * n)
                    func once() { BLAS.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n) }
                    once()
                    var reps = 0
                    let start = clock.now
                    while reps < 5 || (clock.now - start) < .milliseconds(300) { once(); reps += 1 }
                    let gflops = 2 * Double(m * n * k) * Double(reps) / (clock.now - start).seconds / 1e9
                    var rates = [("OpenBLAS", gflops)]
                    for kernel in kernels { rates.append(("packed \(kernel)", PackedMatrix.rate(m: m, k: k, n: n, kernel: kernel))) }
                    for (impl, rate) in rates {
                        emit(
                            json: #"{"kind": "gemm", "impl": "\#(impl)", "core": "\#(BLAS.info.coreName)", "threads": \#(threadCount), "op": "\#(name)", "m": \#(m), "n": \#(n), "k": \#(k), "gflops": \#(fmt(rate, 2))}"#,
                            text: "gemm \(name) \(m)×\(k) · \(k)×\(n), \(threadCount) threads, \(impl): \(fmt(rate, 2)) GFLOP/s")
                    }
                }
            }
        }
    }

    private func emit(json line: String, text: String) { print(json ? line : text) }

    /// Deterministic values in about [-2, 2): a spread like normalised pixels, no randomness source.
    static func pixels(count: Int) -> [Float] {
        var state: UInt32 = 0x9E37_79B9
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        }
    }
}

private func fmt(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
