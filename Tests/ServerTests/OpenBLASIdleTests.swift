import Foundation
@testable import RadaNumerics
import Testing

/// OpenBLAS's pthreads workers busy-wait after each threaded call for 2^OPENBLAS_THREAD_TIMEOUT
/// clock cycles before they sleep: with the library's default (28) about 0.1 s of a core per
/// call, taken from whatever runs next. rada loads it with 20 unless the user set a value. Seen
/// from outside, in a `rada bench-backbone --passes-from-stdin` child waiting for its next
/// request after a pass on OpenBLAS (fp32 products on OpenBLAS, the embedded model at batch 64,
/// large enough for OpenBLAS to thread its products): from 30 to 60 ms after the answer, does any
/// of its threads still run (state R)? A spinner stays runnable however little CPU a loaded machine
/// gives it, where its CPU time would not show it.
@Suite(.enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"),
       .enabled(if: CPUBudget.current.cores >= 2, "needs a CPU budget of 2 or more: with one, OpenBLAS starts no worker thread"))
struct OpenBLASIdleTests {
    /// For each of `passes` passes with `OPENBLAS_THREAD_TIMEOUT` set to `timeout` (nil: unset),
    /// the most threads of the child found runnable from 30 to 60 ms after the answer; and `rada
    /// info`'s report of the timeout.
    static func runnableAfterPasses(timeout: String?, passes: Int = 3) throws -> (runnable: [Int], reported: String?) {
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
        let lines = LineReader(output.fileHandleForReading)
        _ = try #require(lines.next(), "no load line")
        var runnable: [Int] = []
        for _ in 0..<passes {
            input.fileHandleForWriting.write(Data("2 64\n".utf8))
            let answer = try #require(lines.next(), "no answer to a pass")
            #expect(String(decoding: answer, as: UTF8.self).contains("\"pass\""))
            // From 30 ms on, when even a preempted main thread is back in its read, every 10 ms.
            Thread.sleep(forTimeInterval: 0.03)
            var most = 0
            for _ in 0..<4 {
                most = max(most, Self.runnableThreads(process.processIdentifier))
                Thread.sleep(forTimeInterval: 0.01)
            }
            runnable.append(most)
        }
        return (runnable, info.fields["blas.thread_timeout"])
    }

    /// Threads of process `pid` in state R (running or waiting for a CPU), from /proc.
    static func runnableThreads(_ pid: Int32) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.filter { task in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // "pid (name) S ...": the state follows the name, which may hold spaces or parentheses.
            return stat[stat.index(after: close)...].split(separator: " ").first == "R"
        }.count
    }

    @Test func idleWorkersSleepSoonAfterACall() throws {
        // The library's own timeout first: it must show the spin, or this test measures nothing.
        let library = try Self.runnableAfterPasses(timeout: "28")
        #expect(library.reported?.hasPrefix("28 (") == true && library.reported?.contains("rada's choice") == false, "\(library.reported ?? "none")")
        #expect(library.runnable.filter { $0 > 0 }.count >= 2, "OpenBLAS's default spin not seen: runnable threads \(library.runnable)")
        let rada = try Self.runnableAfterPasses(timeout: nil)
        #expect(rada.reported?.hasPrefix("20 (") == true && rada.reported?.contains("rada's choice") == true, "\(rada.reported ?? "none")")
        #expect(rada.runnable.allSatisfy { $0 == 0 }, "threads still runnable after a pass with rada's timeout: \(rada.runnable)")
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
