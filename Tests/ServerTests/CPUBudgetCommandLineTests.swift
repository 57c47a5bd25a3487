import Foundation
@testable import RadaNumerics
import Testing

/// A cgroup of this machine with a CFS quota, made for a test and removed after it (root and a
/// writable cgroup hierarchy with the cpu controller: v1's `cpu` mount, or v2 where `cpu` is
/// delegated to children of the root). `nil` where the machine offers neither.
struct QuotaCgroup {
    let directory: String
    let version: CgroupCPUQuota.Version

    /// Makes one with `cpus` CPUs of quota per 100 ms period.
    init?(cpus: Double) {
        guard let mounts = CgroupCPUQuota.readFile("/proc/self/mountinfo") else { return nil }
        let quota = Int(cpus * 100_000)
        for mount in CgroupCPUQuota.parseMounts(mounts) where mount.root == "/" {
            if mount.version == .v2,
               !(CgroupCPUQuota.readFile(mount.point + "/cgroup.subtree_control") ?? "").split(whereSeparator: \.isWhitespace).contains("cpu") {
                continue
            }
            let directory = mount.point + "/rada-test-\(UUID().uuidString)"
            guard mkdir(directory, 0o755) == 0 else { continue }
            let limits = mount.version == .v2 ? [("cpu.max", "\(quota) 100000")] : [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "\(quota)")]
            if limits.allSatisfy({ Self.write($1, to: directory + "/" + $0) }) {
                self.directory = directory
                self.version = mount.version
                return
            }
            rmdir(directory)
        }
        return nil
    }

    static func write(_ text: String, to path: String) -> Bool {
        guard let handle = FileHandle(forWritingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data(text.utf8))) != nil
    }

    /// Removes the cgroup (its processes have exited).
    func remove() { rmdir(directory) }

    /// Whether this machine lets a test make one.
    static let available: Bool = {
        guard let probe = QuotaCgroup(cpus: 1) else { return false }
        probe.remove()
        return true
    }()
}

/// rada's thread counts follow a cgroup's CPU quota (`CPUBudget`): a container given one CPU of a
/// bigger host runs one BLAS thread and one kernel thread instead of one per host core.
@Suite(.enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"),
       .enabled(if: QuotaCgroup.available, "needs a writable cgroup hierarchy with the cpu controller (root): cannot make a quota here"),
       .enabled(if: CPUBudget.current.affinity >= 2, "needs 2 or more cores: with one, a one-CPU quota changes nothing"))
struct CPUBudgetCommandLineTests {
    /// The user's thread-count variables unset (`CPULimitCommandLineTests.info`'s empty value).
    static let unsetThreadCounts = Dictionary(uniqueKeysWithValues: BLAS.threadCountVariables.map { ($0, "") })

    /// `rada info` in a fresh cgroup of `cpus` CPUs, with the user's thread-count variables unset
    /// unless `environment` sets them.
    static func info(cpus: Double, environment: [String: String] = [:]) throws -> [String: String] {
        let cgroup = try #require(QuotaCgroup(cpus: cpus))
        defer { cgroup.remove() }
        let result = try CPULimitCommandLineTests.info(
            limit: nil, environment: unsetThreadCounts.merging(environment) { $1 }, cgroup: cgroup.directory)
        #expect(result.status == 0, "\(result.error)")
        return result.fields
    }

    @Test func aOneCPUQuotaMeansOneThreadOfEachKind() throws {
        // This process's own budget (the test may itself run under a quota).
        let here = CPUBudget.current, affinity = here.affinity
        let outside = try CPULimitCommandLineTests.info(limit: nil, environment: Self.unsetThreadCounts)
        #expect(outside.fields["cpu.budget"]?.hasPrefix("\(here.cores) (\(affinity) cores in the affinity mask") == true, "\(outside.fields)")
        #expect(outside.fields["blas.threads"] == "\(here.cores)")
        #expect(outside.fields["kernel_threads.max"]?.hasPrefix("\(here.cores) ") == true)
        let inside = try Self.info(cpus: 1)
        #expect(inside["cpu.budget"]?.hasPrefix("1 (\(affinity) cores in the affinity mask, a CFS quota of") == true, "\(inside)")
        #expect(inside["blas.threads"] == "1")
        #expect(inside["kernel_threads.max"]?.hasPrefix("1 ") == true)
        // A fraction rounds down; at least one thread.
        let half = try Self.info(cpus: 0.5)
        #expect(half["blas.threads"] == "1")
        if (here.quota ?? .infinity) >= 1 {
            #expect(inside["cpu.budget"]?.contains("a CFS quota of 1.00 CPUs") == true)
            #expect(half["cpu.budget"]?.contains("a CFS quota of 0.50 CPUs") == true, "\(half)")
        }
    }

    @Test func aUserChosenBLASThreadCountIsKept() throws {
        let inside = try Self.info(cpus: 1, environment: ["OPENBLAS_NUM_THREADS": "2"])
        #expect(inside["blas.threads"] == "2")
        #expect(inside["kernel_threads.max"]?.hasPrefix("1 ") == true, "\(inside)")
    }
}
