import Foundation
@testable import RadaNumerics
import Testing

/// OpenBLAS's pthreads workers busy-wait after each threaded call for 2^OPENBLAS_THREAD_TIMEOUT
/// clock cycles before they sleep: with the library's default (28) about 0.1 s of a core per
/// call, taken from whatever runs next. rada loads it with 20 unless the user set a value. Seen
/// from outside, as the CPU time a `rada bench-backbone --passes-from-stdin` child spends while
/// it waits for the next request after a pass on OpenBLAS (fp32 products on OpenBLAS, the
/// embedded model at batch 64, large enough for OpenBLAS to thread its products).
@Suite(.enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"),
       .enabled(if: CPUBudget.current.cores >= 2, "needs a CPU budget of 2 or more: with one, OpenBLAS starts no worker thread"))
struct OpenBLASIdleTests {
    /// The child's CPU milliseconds in the `idle` seconds after each of `passes` passes, with
    /// `OPENBLAS_THREAD_TIMEOUT` set to `timeout` (nil: unset), and `rada info`'s report of it.
    static func cpuAfterPasses(timeout: String?, passes: Int = 3, idle: Double = 0.3) throws -> (milliseconds: [Double], reported: String?) {
        let info = try CPULimitCommandLineTests.info(limit: nil, environment: ["OPENBLAS_THREAD_TIMEOUT": timeout ?? ""])
        let process = Process()
        process.executableURL = radaExecutable
        process.arguments = ["bench-backbone", "--model", Fixtures.embeddedModel.path, "--precision", "fp32", "--json", "--passes-from-stdin"]
        var environment = ProcessInfo.processInfo.environment
        environment["RADA_FP32_GEMM"] = "openblas"
        environment["RADA_CPU_LIMIT"] = nil
        for name in BLAS.threadCountVariables { environment[name] = nil }
        environment["OPENBLAS_THREAD_TIMEOUT"] = timeout
        process.environment = environment
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
        var clock = clockid_t()
        try #require(clock_getcpuclockid(process.processIdentifier, &clock) == 0, "no CPU clock for the child")
        func cpuSeconds() -> Double {
            var now = timespec()
            clock_gettime(clock, &now)
            return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
        let lines = LineReader(output.fileHandleForReading)
        _ = try #require(lines.next(), "no load line")
        var milliseconds: [Double] = []
        for _ in 0..<passes {
            input.fileHandleForWriting.write(Data("2 64\n".utf8))
            let answer = try #require(lines.next(), "no answer to a pass")
            #expect(String(decoding: answer, as: UTF8.self).contains("\"pass\""))
            let before = cpuSeconds()
            Thread.sleep(forTimeInterval: idle)
            milliseconds.append((cpuSeconds() - before) * 1000)
        }
        return (milliseconds, info.fields["blas.thread_timeout"])
    }

    @Test func idleWorkersSleepSoonAfterACall() throws {
        // The library's own timeout first: it must show the spin, or this test measures nothing.
        let library = try Self.cpuAfterPasses(timeout: "28")
        #expect(library.reported?.hasPrefix("28 (") == true && library.reported?.contains("rada's choice") == false, "\(library.reported ?? "none")")
        #expect(library.milliseconds.sorted()[1] > 25, "OpenBLAS's default spin not seen: \(library.milliseconds) ms")
        let rada = try Self.cpuAfterPasses(timeout: nil)
        #expect(rada.reported?.hasPrefix("20 (") == true && rada.reported?.contains("rada's choice") == true, "\(rada.reported ?? "none")")
        #expect(rada.milliseconds.allSatisfy { $0 < 10 }, "CPU after a pass with rada's timeout: \(rada.milliseconds) ms")
    }
}

/// Lines of a pipe, read as they arrive (the passes protocol of `rada bench-backbone`).
final class LineReader {
    private let handle: FileHandle
    private var buffered = Data()

    init(_ handle: FileHandle) { self.handle = handle }

    func next() -> Data? {
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(buffered[buffered.startIndex..<newline])
                buffered = Data(buffered[buffered.index(after: newline)...])
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffered.append(chunk)
        }
    }
}
