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
    @Flag(help: "Also time every bf16 kernel this CPU runs (AMX-BF16, AVX512-BF16) on the same sizes.") var bf16 = false
    @Flag(help: "Also time the fp16 kernel (AVX512-FP16) on the same sizes.") var fp16 = false

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
            var rates: [(format: String, kernel: String, rate: () -> Double)] = []
            if bf16 {
                guard !BF16PackedMatrix.Kernel.available.isEmpty else {
                    throw ValidationError("--bf16: this CPU runs no bf16 kernel (needs AVX512-BF16, or AMX-BF16 with the tile state granted)")
                }
                for kernel in BF16PackedMatrix.Kernel.available {
                    rates.append(("bf16", kernel.rawValue, { BF16PackedMatrix.squareRate(n: n, kernel: kernel, seconds: seconds) }))
                }
            }
            if fp16 {
                guard FP16PackedMatrix.isAvailable else { throw ValidationError("--fp16: this CPU does not run AVX512-FP16") }
                rates.append(("fp16", FP16PackedMatrix.kernelName, { FP16PackedMatrix.squareRate(n: n, seconds: seconds) }))
            }
            for (format, kernel, measure) in rates {
                let rate = measure()
                if json {
                    print(#"{"n": \#(n), "threads": \#(threads), "core": "\#(kernel)", "gflops": \#(String(format: "%.2f", rate))}"#)
                } else {
                    print(String(format: "n=%5d  %8.2f GFLOP/s  (\(format), ", n, rate) + "\(kernel))")
                }
            }
        }
    }
}
