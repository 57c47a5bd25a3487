import Foundation
import Testing

/// `rada embed --text=T` takes any T, also one that starts with a combining or joining scalar
/// (which ArgumentParser would merge with the `=`): same embedding as `--text T`.
@Suite struct EmbedCommandLineTests {
    struct Output: Decodable {
        struct Text: Decodable { let text: String; let embedding: [Float] }
        let texts: [Text]
    }

    static func embed(_ arguments: [String]) throws -> (status: Int32, output: Output?) {
        let process = Process()
        let executable = try #require(radaExecutable, "build the rada executable first (swift build)")
        process.executableURL = executable
        process.arguments = ["embed", "--json", "--threads", "1"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, try? JSONDecoder().decode(Output.self, from: data))
    }

    @Test func textStartingWithACombiningMarkIsAccepted() throws {
        let texts = ["\u{0301}", "\u{FE0F}cat", "\u{200D}a dog", "\u{1F3FB}", "=\u{0301}x", "-x"]
        let joined = try Self.embed(texts.map { "--text=\($0)" })
        #expect(joined.status == 0)
        let separate = try Self.embed(texts.dropLast().flatMap { ["--text", $0] } + ["--text=-x"])
        #expect(separate.status == 0)
        let a = try #require(joined.output), b = try #require(separate.output)
        #expect(a.texts.map(\.text) == texts)
        #expect(b.texts.map(\.text) == texts)
        for (x, y) in zip(a.texts, b.texts) {
            #expect(!x.embedding.isEmpty)
            #expect(x.embedding == y.embedding)
        }
    }
}
