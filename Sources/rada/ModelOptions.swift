import ArgumentParser
import CLIP
import Foundation
import RadaNumerics
import Imaging

/// Options shared by every command that loads a CLIP checkpoint.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "CLIP checkpoint directory (Hugging Face or OpenCLIP layout). Default: the embedded model.")
    var model: String?

    @Option(name: .long, help: "BLAS threads (default: the CPU budget, cores or the cgroup's CPU quota; see rada info).")
    var threads: Int?

    @Option(name: .long, help: "Projection arithmetic of the towers: \(TowerPrecision.autoSummary), fp32, bf16 or fp16 (half the memory, about twice as fast where the CPU has the kernel; cosine ≥ 0.9999 to fp32). Default: RADA_PRECISION, else auto.")
    var precision: String?


    /// The towers' precision these options ask for on this machine, and why.
    func precisionChoice() throws -> TowerPrecision.Choice { try TowerPrecision.resolve(flag: precision) }

    /// Loads the checkpoint in `precision` (default: `precisionChoice()`), with a clear error if
    /// anything is missing.
    func loadEncoder(precision chosen: TowerPrecision? = nil) throws -> CLIPEncoder {
        try BLAS.load()
        if let threads { BLAS.setThreads(threads) }
        let directory = try model.map { URL(fileURLWithPath: $0) } ?? ModelLocator.defaultModelDirectory()
        return try CLIPEncoder.load(from: directory, precision: try chosen ?? precisionChoice().precision)
    }
}

/// Reads and decodes image files, naming the file in any error.
func decodeImages(_ paths: [String], maxPixels: Int = ImageDecoder.defaultMaxPixels) throws -> [RGBImage] {
    try paths.map { path in
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ValidationError("\(path): cannot read (\(error.localizedDescription))")
        }
        do { return try ImageDecoder.decode(data, maxPixels: maxPixels) } catch {
            throw ValidationError("\(path): \(error)")
        }
    }
}

/// JSON output with stable key order, for scripts.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
