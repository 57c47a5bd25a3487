import Adaptation
import Foundation
import RadaNumerics

/// The stream checkpoint upload path under libFuzzer: any byte string given to
/// `StreamState.restore(from:)` (what `PUT /v1/streams/{id}/checkpoints/{name}` runs on a trial
/// copy) or to `StreamState(checkpoint:)` (snapshot loading) must be refused with an error or
/// accepted as a stream inside the documented bounds: never a trap, a crash or unbounded memory.
///
/// Built two ways. `make fuzz-checkpoint` compiles it with `-sanitize=fuzzer` and `-DFUZZING`:
/// `main` hands over to libFuzzer's driver. The ordinary build makes a replay tool: `rada-fuzz-checkpoint
/// FILE...` runs each file through the same entry (reproducing a crash), and
/// `rada-fuzz-checkpoint --seeds DIR` writes the seed corpus (real checkpoints of the base stream).
enum CheckpointFuzz {
    /// D = 8, K = 5, two heads: small enough that each input runs in microseconds.
    static let base: StreamState = {
        var text = Matrix(rows: 5, cols: 8)
        for i in 0..<text.storage.count { text.storage[i] = Float((i * 7919) % 17) / 17 - 0.5 }
        text.normalizeRows()
        var policy = RAdaHyperparameters()
        policy.replayImages = 2
        // Centring and whitening on, so that the trained seed carries a running embedding mean
        // and the whitening's D×D moments (checkpoint format 4), refreshed at every batch.
        policy.centring = EmbeddingCentring(weight: 1, memoryImages: 50, whitening: 0.3, whiteningRefreshImages: 1)
        return try! StreamState(labels: ["a", "b", "c", "d", "e"], textEmbeddings: text, logitScale: 13, heads: 2, hyperparameters: policy, seed: 1)
    }()

    static func features(_ rows: Int, offset: Int) -> Matrix {
        var f = Matrix(rows: rows, cols: 8)
        for i in 0..<f.storage.count { f.storage[i] = Float(((i + offset) * 104_729) % 23) / 23 - 0.5 }
        f.normalizeRows()
        return f
    }

    static func run(_ data: Data) {
        var stream = base
        if (try? stream.restore(from: data)) != nil {
            // Accepted: the stream must keep working (a poisoned value would trap here).
            _ = try? stream.process(features(1, offset: data.count), adapt: true)
            stream.reset()
            precondition(stream == base, "a reset after a restore is not the stream's own zero-shot")
        } else {
            precondition(stream == base, "a refused checkpoint changed the stream")
        }
        if var loaded = try? StreamState(checkpoint: data) {
            _ = try? loaded.process(features(1, offset: 3), adapt: true)
        }
    }

    static func seeds() throws -> [Data] {
        var trained = base
        for r in 0..<3 { _ = try trained.process(features(1 + r, offset: r), adapt: true) }
        return [try base.checkpointData(), try trained.checkpointData()]
    }
}

/// libFuzzer's entry when it does not own `main` (LLVM 11+): SwiftPM gives every executable a
/// `main` of its own, so the fuzzing build calls the driver from there.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@main
struct CheckpointFuzzMain {
    static func main() throws {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(LLVMFuzzerRunDriver(&argc, &argv) { bytes, size in
            CheckpointFuzz.run(bytes.map { Data(bytes: $0, count: size) } ?? Data())
            return 0
        })
        #else
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "--seeds", let directory = arguments.dropFirst().first {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (i, seed) in try CheckpointFuzz.seeds().enumerated() {
                try seed.write(to: URL(fileURLWithPath: directory).appendingPathComponent("seed-\(i).safetensors"))
            }
            return
        }
        for path in arguments {
            CheckpointFuzz.run(try Data(contentsOf: URL(fileURLWithPath: path)))
            print("ok \(path)")
        }
        #endif
    }
}
