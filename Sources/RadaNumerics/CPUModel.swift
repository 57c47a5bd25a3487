import CNumerics
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

    /// Who made the processor, from /proc/cpuinfo's `vendor_id`: kernels with the same
    /// instructions run at different rates on different makers' cores.
    public enum Vendor: Sendable, Equatable {
        case intel, amd, other
    }

    public static let vendor: Vendor = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return .other }
        for line in text.split(separator: "\n") where line.hasPrefix("vendor_id") {
            if line.hasSuffix("GenuineIntel") { return .intel }
            if line.hasSuffix("AuthenticAMD") { return .amd }
            return .other
        }
        return .other
    }()

    /// The names `RADA_CPU_LIMIT` takes, lowest first.
    public static let limitNames: [String] = (0...Int(RADA_CPU_LIMIT_AMX)).map { String(cString: rada_cpu_limit_name(Int32($0))) }

    /// The kernel family `RADA_CPU_LIMIT` caps this process at (it then dispatches as a CPU
    /// without anything above it would, OpenBLAS's family included), or nil when nothing is capped.
    public static var limit: String? {
        let level = Int(rada_cpu_limit())
        return limitNames.indices.contains(level) ? limitNames[level] : nil
    }
}
