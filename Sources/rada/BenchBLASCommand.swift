import ArgumentParser
import Foundation
import RadaNumerics

/// `rada bench-blas`: the large-square SGEMM rate, the machine limit other benchmarks compare to.
struct BenchBLASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-blas",
        abstract: "Measure the SGEMM rate (GFLOP/s) of the loaded BLAS on square products.")

    @Option(help: "Matrix sizes to time.") var sizes: [Int] = [256, 512, 1024, 2048]
    @Option(help: "BLAS threads.") var threads: Int = 2
    @Option(help: "Seconds to spend per size (at least 3 repetitions).") var seconds: Double = 1.0
    @Flag(help: "Print JSON lines instead of a table.") var json = false
    @Flag(help: "Also time the bf16 AMX kernel of --precision bf16 on the same sizes.") var bf16 = false

    func run() throws {
        try BLAS.load()
        BLAS.setThreads(threads)
        let info = BLAS.info
        if !json { print("BLAS \(info.library), kernels \(info.coreName), \(threads) threads") }
        for n in sizes {
            let gflops = BLAS.squareSGEMMRate(n: n, seconds: seconds)
            if json {
                print(#"{"n": \#(n), "threads": \#(threads), "core": "\#(info.coreName)", "gflops": \#(String(format: "%.2f", gflops))}"#)
            } else {
                print(String(format: "n=%5d  %8.2f GFLOP/s", n, gflops))
            }
            guard bf16 else { continue }
            guard BF16PackedMatrix.isAvailable else {
                throw ValidationError("--bf16: this CPU has no AMX-BF16 (or the kernel refused its tile state)")
            }
            let rate = BF16PackedMatrix.squareRate(n: n, seconds: seconds)
            if json {
                print(#"{"n": \#(n), "threads": \#(threads), "core": "amx-bf16", "gflops": \#(String(format: "%.2f", rate))}"#)
            } else {
                print(String(format: "n=%5d  %8.2f GFLOP/s  (bf16 AMX)", n, rate))
            }
        }
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
