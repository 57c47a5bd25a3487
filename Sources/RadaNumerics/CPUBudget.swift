import CNumerics
import Foundation

/// The CPUs this process can keep busy: the cores in its affinity mask, capped by the CPU
/// bandwidth limit of its cgroup (a CFS quota). Container runtimes and Kubernetes express
/// `--cpus 2` or a CPU limit as such a quota while the affinity mask still shows every core of
/// the host; threads beyond the quota do not run faster, they exhaust it early in each period
/// (100 ms by default) and then all wait for the next one, which a server sees as stalls. rada's
/// thread counts start from `cores`: the BLAS threads and kernel threads (`BLAS.load`) and the
/// server's worker pools.
public struct CPUBudget: Sendable, Equatable {
    /// Cores in the affinity mask.
    public var affinity: Int
    /// The tightest quota from this process's cgroup up to the hierarchy's root, in CPUs
    /// (quota ÷ period); nil when there is none.
    public var quota: Double?
    /// The file the quota came from, for `rada info`.
    public var quotaFile: String?

    public init(affinity: Int, quota: Double? = nil, quotaFile: String? = nil) {
        self.affinity = max(1, affinity)
        self.quota = quota
        self.quotaFile = quotaFile
    }

    /// Threads worth running at once: the affinity count, or the quota rounded down if that is
    /// fewer (a fraction of a CPU keeps no further thread busy, it only lets it be throttled),
    /// at least one.
    public var cores: Int {
        guard let quota else { return affinity }
        // Compared as Double first: a quota of 2^63 CPUs (cpu.max "9223372036854775807 1") must
        // not reach Int's conversion, which traps beyond Int.max.
        return max(1, Int(min(Double(affinity), (quota + 1e-9).rounded(.down))))
    }

    /// This process's budget, read once (cgroup limits are set when a container starts).
    public static let current: CPUBudget = {
        let quota = CgroupCPUQuota.read()
        return CPUBudget(affinity: Int(rada_affinity_cores()), quota: quota?.cpus, quotaFile: quota?.file)
    }()
}

/// The CFS quota of a process's cgroups, from the files the kernel exposes: `/proc/self/cgroup`
/// (which cgroup), `/proc/self/mountinfo` (where each hierarchy is mounted, and which part of it)
/// and the limit files, `cpu.max` (cgroup v2: "max 100000" or "150000 100000") or
/// `cpu.cfs_quota_us` with `cpu.cfs_period_us` (v1, −1 for none). A limit on any ancestor
/// applies too, so every level from the process's cgroup up to the mount is read and the
/// smallest taken. Whatever cannot be read or parsed counts as no limit: a wrong guess here
/// must not stop the server.
public enum CgroupCPUQuota {
    /// Reads through `file`, which returns a file's text or nil.
    public static func read(
        cgroupFile: String = "/proc/self/cgroup", mountInfoFile: String = "/proc/self/mountinfo",
        file: (String) -> String? = CgroupCPUQuota.readFile
    ) -> (cpus: Double, file: String)? {
        guard let cgroups = file(cgroupFile), let mounts = file(mountInfoFile) else { return nil }
        let memberships = parseMemberships(cgroups)
        var best: (cpus: Double, file: String)?
        for mount in parseMounts(mounts) {
            guard let path = memberships[mount.version] else { continue }
            for directory in directories(cgroupPath: path, mountRoot: mount.root, mountPoint: mount.point) {
                guard let cpus = limit(in: directory, version: mount.version, file: file) else { continue }
                if best.map({ cpus < $0.cpus }) ?? true {
                    best = (cpus, directory + (mount.version == .v2 ? "/cpu.max" : "/cpu.cfs_quota_us"))
                }
            }
        }
        return best
    }

    public enum Version: Sendable { case v1, v2 }

    /// The cgroup of each kind: v2's line is `0::/path`, v1's `N:controllers:/path` with `cpu`
    /// among its comma-separated controllers.
    static func parseMemberships(_ text: String) -> [Version: String] {
        var result: [Version: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2].hasPrefix("/") else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                result[.v2] = String(fields[2])
            } else if fields[1].split(separator: ",").contains("cpu") {
                result[.v1] = String(fields[2])
            }
        }
        return result
    }

    struct Mount: Equatable {
        var version: Version
        /// The part of the hierarchy mounted (`/` unless a cgroup namespace or bind mount shows
        /// a subtree), and where.
        var root: String
        var point: String
    }

    /// cgroup mounts from mountinfo: `id parent dev root point options [optional…] - type source
    /// superoptions`; v1 mounts only where `cpu` is among the superoptions.
    static func parseMounts(_ text: String) -> [Mount] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 3 else { return nil }
            let root = unescape(fields[3]), point = unescape(fields[4])
            switch fields[dash + 1] {
            case "cgroup2": return Mount(version: .v2, root: root, point: point)
            case "cgroup" where fields[dash + 3].split(separator: ",").contains("cpu"):
                return Mount(version: .v1, root: root, point: point)
            default: return nil
            }
        }
    }

    /// mountinfo writes space, tab, newline and backslash as three octal digits (`\040`).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.first {
            if byte == UInt8(ascii: "\\"), utf8.count >= 4,
               let code = UInt8(String(decoding: utf8.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(code)
                utf8 = utf8.dropFirst(4)
            } else {
                bytes.append(byte)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The process's cgroup directory and its ancestors up to the mount point. When the cgroup
    /// lies outside the mounted subtree (a container whose cgroup namespace makes its own cgroup
    /// the root), the mount point itself is that cgroup.
    static func directories(cgroupPath: String, mountRoot: String, mountPoint: String) -> [String] {
        let root = mountRoot == "/" ? "" : mountRoot
        guard cgroupPath == root || cgroupPath.hasPrefix(root + "/") else { return [mountPoint] }
        var components = cgroupPath.dropFirst(root.count).split(separator: "/").map(String.init)
        var result: [String] = []
        while true {
            result.append(([mountPoint] + components).joined(separator: "/"))
            if components.isEmpty { return result }
            components.removeLast()
        }
    }

    /// The quota set on one cgroup, in CPUs; nil for none or an unreadable one.
    static func limit(in directory: String, version: Version, file: (String) -> String?) -> Double? {
        func number(_ text: Substring) -> Double? {
            guard let value = Int64(text), value > 0 else { return nil }
            return Double(value)
        }
        switch version {
        case .v2:
            guard let text = file(directory + "/cpu.max") else { return nil }
            let fields = text.split(whereSeparator: \.isWhitespace)
            guard fields.count == 2, let quota = number(fields[0]), let period = number(fields[1]) else { return nil }
            return quota / period
        case .v1:
            guard let quotaText = file(directory + "/cpu.cfs_quota_us"), let periodText = file(directory + "/cpu.cfs_period_us"),
                  let quota = number(Substring(quotaText.trimmingCharacters(in: .whitespacesAndNewlines))),
                  let period = number(Substring(periodText.trimmingCharacters(in: .whitespacesAndNewlines)))
            else { return nil }
            return quota / period
        }
    }

    /// A file's text, nil when it cannot be read (as the other /proc readers here).
    public static func readFile(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
