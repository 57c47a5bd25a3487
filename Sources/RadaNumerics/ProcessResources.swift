import Foundation

/// The process's own resource use: CPU time from the clock, memory from Linux's
/// /proc/self/status (nil where it cannot be read). The one parser of that file, for the
/// benchmarks that report memory and the tests that bound it.
public enum ProcessResources {
    /// CPU seconds used by all threads of the process: on a shared machine this tracks the work
    /// done better than wall time does (but counts BLAS threads' spin-waiting too).
    public static func cpuSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    /// Resident bytes now (`VmRSS`).
    public static var residentBytes: Int? { statusBytes("VmRSS") }

    /// The high-water mark of resident bytes (`VmHWM`): since the process started, or since the
    /// last `resetPeak`.
    public static var peakResidentBytes: Int? { statusBytes("VmHWM") }

    /// Sets the high-water mark to the current resident size (writing 5 to /proc/self/clear_refs,
    /// Linux 4.0+), so that the next `peakResidentBytes` covers only what runs after.
    public static func resetPeak() throws {
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// A `Name:   1234 kB` line of /proc/self/status, in bytes.
    static func statusBytes(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let kib = Int(fields[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }
}
