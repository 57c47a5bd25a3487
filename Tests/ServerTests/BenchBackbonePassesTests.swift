import Foundation
import Testing

/// `rada bench-backbone --passes-from-stdin`, which `tools/bench_backbone.py --interleave` drives
/// from its own process: one JSON line per request line, each written before the next line is
/// read (stdout is a pipe there), and a malformed request ends the run instead of timing
/// something else.
@Suite(.enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"))
struct BenchBackbonePassesTests {
    struct Line: Decodable { let kind: String; let threads: Int?; let batch: Int?; let seconds: Double? }

    /// Starts the command on the embedded model, sends `requests` (with `awaitEach`, each only
    /// after the previous answer has arrived), then closes stdin and reads what is left.
    static func run(_ requests: [String], awaitEach: Bool) throws -> (status: Int32, lines: [Line]) {
        let process = Process()
        process.executableURL = radaExecutable
        process.arguments = ["bench-backbone", "--model", Fixtures.embeddedModel.path, "--json", "--passes-from-stdin"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = LineReader(output.fileHandleForReading)
        var lines: [Data] = []
        if awaitEach, let load = reader.next() { lines.append(load) }  // answered before any request
        for request in requests {
            input.fileHandleForWriting.write(Data((request + "\n").utf8))
            if awaitEach, let answer = reader.next() { lines.append(answer) }
        }
        try input.fileHandleForWriting.close()
        while let line = reader.next() { lines.append(line) }
        process.waitUntilExit()
        return (process.terminationStatus, try lines.map { try JSONDecoder().decode(Line.self, from: $0) })
    }

    @Test func eachRequestIsAnsweredBeforeTheNextIsRead() throws {
        let result = try Self.run(["1 2", "2 1", "1 3"], awaitEach: true)
        #expect(result.status == 0)
        #expect(result.lines.map(\.kind) == ["load", "pass", "pass", "pass"])
        let passes = result.lines.dropFirst()
        #expect(passes.map(\.threads) == [1, 2, 1])
        #expect(passes.map(\.batch) == [2, 1, 3])
        for pass in passes {
            let seconds = try #require(pass.seconds)
            #expect(seconds > 0 && seconds < 60)
        }
    }

    @Test(arguments: ["0 1", "1 0", "1 513", "257 1", "1", "1 2 3", "one two", ""])
    func aMalformedRequestEndsTheRunWithoutAPass(_ request: String) throws {
        let result = try Self.run(["1 1", request, "1 1"], awaitEach: false)
        #expect(result.status != 0)
        #expect(result.lines.map(\.kind) == ["load", "pass"])
    }
}
