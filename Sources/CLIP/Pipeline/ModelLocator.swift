import Foundation

/// Finds the embedded default model (`models/fashion-clip`) without any special loading path:
/// it is an ordinary Hugging Face checkpoint directory, found by location only.
public enum ModelLocator {
    /// The directory name of the embedded model under `models/`.
    public static let embeddedModelName = "fashion-clip"

    /// `$RADA_MODEL` when set; else the first `models/fashion-clip` found walking up from the
    /// executable (a checkout's `.build/release/rada`) or from the working directory.
    public static func defaultModelDirectory() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["RADA_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        var starts: [URL] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        starts.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        for start in starts {
            var directory = start.standardizedFileURL
            while true {
                let candidate = directory.appendingPathComponent("models").appendingPathComponent(embeddedModelName)
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("config.json").path) {
                    return candidate
                }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        throw EncoderError.noDefaultModel(
            searched: starts.map(\.path),
            hint: "pass --model DIR or set RADA_MODEL to a CLIP checkpoint directory")
    }
}
