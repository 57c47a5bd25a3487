import Foundation

/// Finds the embedded default model (`models/fashion-clip`) without any special loading path:
/// it is an ordinary Hugging Face checkpoint directory, found by location only.
public enum ModelLocator {
    /// The directory name of the embedded model under `models/`.
    public static let embeddedModelName = "fashion-clip"

    /// Where `models/` may sit in a directory on the way up: a checkout (`models/`, above
    /// `.build/release/rada`) or an install (`share/rada/models/`, as `make install` lays out
    /// `PREFIX/bin/rada` and `PREFIX/share/rada/models/fashion-clip`).
    static let layouts = ["models", "share/rada/models"]

    /// `$RADA_MODEL` when set; else the first embedded model found walking up from the
    /// executable or from the working directory.
    public static func defaultModelDirectory() throws -> URL {
        let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return try defaultModelDirectory(
            environment: ProcessInfo.processInfo.environment, executable: executable.map { URL(fileURLWithPath: $0) },
            workingDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    }

    static func defaultModelDirectory(environment: [String: String], executable: URL?, workingDirectory: URL) throws -> URL {
        if let path = environment["RADA_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let starts = (executable.map { [$0.deletingLastPathComponent()] } ?? []) + [workingDirectory]
        for start in starts {
            var directory = start.standardizedFileURL
            while true {
                for layout in layouts {
                    let candidate = directory.appendingPathComponent(layout).appendingPathComponent(embeddedModelName)
                    if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("config.json").path) {
                        return candidate
                    }
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
