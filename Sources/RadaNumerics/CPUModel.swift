import Foundation

/// The processor's marketing name (`lscpu`'s "Model name"), recorded beside every speed figure:
/// machines of this project's kind differ from session to session.
public enum CPUModel {
    /// The first `model name` line of /proc/cpuinfo, or "unknown CPU" where there is none.
    public static let name: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown CPU"
    }()
}
