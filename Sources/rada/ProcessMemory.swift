import Foundation

/// The process's resident memory (from /proc, Linux; 0 where unavailable) and CPU time.
enum ProcessMemory {
    /// CPU seconds used by all threads of the process: on a shared machine this tracks the work
    /// done better than wall time does (but counts BLAS threads' spin-waiting too).
    static func cpuSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    static func residentMiB() -> Double { statusMiB("VmRSS:") }

    /// The high-water mark of resident memory since the process started (`VmHWM`).
    static func peakResidentMiB() -> Double { statusMiB("VmHWM:") }

    private static func statusMiB(_ field: String) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            let kib = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kib / 1024
        }
        return 0
    }
}
