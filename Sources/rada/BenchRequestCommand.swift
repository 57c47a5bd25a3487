import ArgumentParser
import Benchmarks
import CLIP
import Foundation
import Logging
import Server

/// `rada bench-request`: what one classify request costs in-process, stage by stage (decode,
/// embed, journal, predict, step), the floor `tools/load_test.py` compares the server's latency
/// against.
struct BenchRequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-request", abstract: "Time one classify request in-process: decode, embed, journal, predict, step.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Class counts K (repeatable).") var classes: [Int] = [10, 1000]
    @Option(help: "Timed requests per class count, after one warm-up (medians are reported).") var requests: Int = 20
    @Option(help: "Image file each request sends (default: a 224×224 gray PNG).") var image: String?
    @Option(name: .customLong("data-dir"), help: "Where the journal is written (fsynced). Default: a temporary directory.")
    var dataDir: String?
    @Option(help: "Journal into this store instead (postgres://…): its commit is the journal stage.") var store: String?
    @Flag(help: "Print JSON lines.") var json = false

    func run() async throws {
        guard requests >= 1, classes.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--requests and --classes must be at least 1") }
        let backend = CLIPBackend(encoder: try model.loadEncoder())
        let bytes = try image.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? defaultImage()
        let directory = URL(fileURLWithPath: dataDir ?? NSTemporaryDirectory()).appendingPathComponent("rada-bench-request-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let journalStore = try StoreOption.open(store, dataDirectory: directory, diskReserveBytes: 0, serverID: nil, leaseSeconds: nil, logger: Logger(label: "rada.bench"))
        defer { journalStore.close() }
        for k in classes {
            let stages = try await RequestCost.measure(backend: backend, classes: k, image: bytes, requests: requests, store: journalStore)
            if json {
                try printJSON(stages)
            } else {
                print(String(format: "K %5d  D %4d  decode %.2f  embed %.2f  journal %.2f (p99 %.2f)  predict %.2f  (answer %.2f, stage medians %.2f)  step %.2f ms",
                             k, stages.dimension, stages.decodeMs, stages.embedMs, stages.journalMs, stages.journalP99Ms, stages.predictMs,
                             stages.answerMs, stages.stageMediansMs, stages.stepMs))
            }
        }
    }

    private func defaultImage() throws -> Data {
        // A gradient, so the PNG has real content to inflate.
        Data(try GrayCodec.png((0..<(224 * 224)).map { UInt8(truncatingIfNeeded: $0 % 224 + $0 / 224) }, width: 224, height: 224))
    }
}
