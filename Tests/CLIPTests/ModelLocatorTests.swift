import Foundation
import Testing

@testable import CLIP

/// Where the embedded model is found: a checkout's `models/`, an install's `share/rada/models/`
/// beside `bin/`, `RADA_MODEL` first, and an error naming where it looked.
@Suite struct ModelLocatorTests {
    func layout(_ paths: [String]) throws -> URL {
        let root = try scratchDirectory()
        for path in paths {
            let file = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: file)
        }
        return root
    }

    /// An install (`PREFIX/bin/rada` beside `PREFIX/share/rada/models/`) and a checkout
    /// (`.build/release/rada` below `models/`).
    @Test(arguments: [("bin/rada", "share/rada/models/fashion-clip"), (".build/release/rada", "models/fashion-clip")])
    func theModelIsFoundAboveTheExecutable(executable: String, model: String) throws {
        let root = try layout([executable, model + "/config.json"])
        defer { try? FileManager.default.removeItem(at: root) }
        let found = try ModelLocator.defaultModelDirectory(
            environment: [:], executable: root.appendingPathComponent(executable), workingDirectory: URL(fileURLWithPath: "/"))
        #expect(found.standardizedFileURL.path == root.appendingPathComponent(model).standardizedFileURL.path)
    }

    @Test func theEnvironmentWinsAndAMissingModelNamesWhereItLooked() throws {
        let empty = try layout(["bin/rada"])
        defer { try? FileManager.default.removeItem(at: empty) }
        let chosen = try ModelLocator.defaultModelDirectory(
            environment: ["RADA_MODEL": "/elsewhere/model"], executable: empty.appendingPathComponent("bin/rada"), workingDirectory: empty)
        #expect(chosen.path == "/elsewhere/model")
        do {
            let found = try ModelLocator.defaultModelDirectory(environment: [:], executable: empty.appendingPathComponent("bin/rada"), workingDirectory: empty)
            Issue.record("found \(found.path) in a tree without a model")
        } catch let error as EncoderError {
            #expect(error.description.contains(empty.appendingPathComponent("bin").path))
            #expect(error.description.contains("share/rada/models/fashion-clip"))
        }
    }
}
