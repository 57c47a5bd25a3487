import ArgumentParser
import Benchmarks
import Foundation

/// `rada corrupt`: writes Fashion-MNIST-C (a split under the benchmark's corruptions) as image
/// folders, byte-identical to what `rada bench` streams for the same seed.
struct CorruptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corrupt",
        abstract: "Write a corrupted dataset split as image folders (OUT/<corruption>/<class>/<index>.png).")

    @Option(help: "The dataset (only fashion-mnist).")
    var dataset = "fashion-mnist"

    @Option(help: "train or test.")
    var split = "test"

    @Option(help: "A corruption name (\(Corruption.allCases.map(\.rawValue).joined(separator: ", "))) or all.")
    var corruption = "all"

    @Option(help: "Severity 0 (clean) ... 5.")
    var severity = 5

    @Option(help: "Output directory.")
    var out: String

    @Option(help: "Only the first N images of the split (by index).")
    var limit: Int?

    @Option(help: "Corruption seed (the same seed gives the same bytes on every machine).")
    var seed: UInt64 = 0

    @Option(help: "Directory of the Fashion-MNIST .gz files.")
    var datasetDirectory = FashionMNIST.defaultDirectory.path

    func validate() throws {
        guard dataset == "fashion-mnist" else { throw ValidationError("--dataset: only fashion-mnist can be corrupted (got \(dataset))") }
        guard FashionMNIST.Split(rawValue: split) != nil else { throw ValidationError("--split must be train or test (got \(split))") }
        guard (0...Corruption.maxSeverity).contains(severity) else { throw ValidationError("--severity must be 0...5 (got \(severity))") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if corruption != "all" { _ = try Corruption(name: corruption) }
    }

    func run() throws {
        let set = try FashionMNIST.load(FashionMNIST.Split(rawValue: split)!, directory: URL(fileURLWithPath: datasetDirectory))
        let corruptions = corruption == "all" ? Corruption.allCases : [try Corruption(name: corruption)]
        let start = Date()
        let written = try CorruptedSplitWriter.write(
            set, corruptions: corruptions, severity: severity, seed: seed, limit: limit, to: URL(fileURLWithPath: out))
        print("wrote \(written) images to \(out) in " + String(format: "%.1f s", Date().timeIntervalSince(start)))
    }
}
