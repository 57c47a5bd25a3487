import Testing
@testable import RadaNumerics

/// The CFS quota read from a cgroup's files, on file trees given as text (the kernel's formats:
/// proc(5) for /proc/self/cgroup and mountinfo, the cgroup v1 and v2 documentation for the
/// limit files). `CPUBudgetCommandLineTests` reads a real one.
@Suite struct CPUBudgetTests {
    static let v2Mount = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
    static let v1Mounts = """
        25 23 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
        32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpuset
        33 25 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory

        """

    static func quota(cgroup: String, mounts: String, files: [String: String]) -> (cpus: Double, file: String)? {
        let all = files.merging(["/proc/self/cgroup": cgroup, "/proc/self/mountinfo": mounts]) { $1 }
        return CgroupCPUQuota.read { all[$0] }
    }

    @Test func v2InsideAContainerNamespace() {
        // The container's own cgroup is the root it sees.
        let found = Self.quota(cgroup: "0::/\n", mounts: Self.v2Mount, files: ["/sys/fs/cgroup/cpu.max": "150000 100000\n"])
        #expect(found?.cpus == 1.5)
        #expect(found?.file == "/sys/fs/cgroup/cpu.max")
        #expect(CPUBudget(affinity: 4, quota: found?.cpus).cores == 1)
    }

    @Test func v2TheTightestAncestorCounts() {
        let found = Self.quota(cgroup: "0::/kubepods/pod1/c1\n", mounts: Self.v2Mount, files: [
            "/sys/fs/cgroup/cpu.max": "max 100000\n",
            "/sys/fs/cgroup/kubepods/cpu.max": "400000 100000\n",
            "/sys/fs/cgroup/kubepods/pod1/cpu.max": "200000 100000\n",
            "/sys/fs/cgroup/kubepods/pod1/c1/cpu.max": "max 100000\n",
        ])
        #expect(found?.cpus == 2)
        #expect(found?.file == "/sys/fs/cgroup/kubepods/pod1/cpu.max")
    }

    @Test func v1WithCombinedControllers() {
        let cgroup = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n3:cpuset:/docker/abc\n0::/\n"
        let found = Self.quota(cgroup: cgroup, mounts: Self.v1Mounts, files: [
            "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "250000\n",
            "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        ])
        #expect(found?.cpus == 2.5)
        #expect(found?.file == "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us")
        #expect(CPUBudget(affinity: 8, quota: found?.cpus).cores == 2)
    }

    @Test func noQuotaAnywhere() {
        let cgroup = "4:cpu,cpuacct:/user.slice\n"
        let found = Self.quota(cgroup: cgroup, mounts: Self.v1Mounts, files: [
            "/sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_period_us": "100000\n",
        ])
        #expect(found == nil)
        #expect(CPUBudget(affinity: 8, quota: nil).cores == 8)
        // No cgroup files at all (not Linux, or /proc not mounted).
        #expect(CgroupCPUQuota.read { _ in nil } == nil)
    }

    @Test func aMountedSubtreeMapsTheCgroupPathBelowIt() {
        // A bind mount showing only /docker/abc at the mount point, as some runtimes do.
        let mounts = "40 25 0:28 /docker/abc /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        #expect(CgroupCPUQuota.directories(cgroupPath: "/docker/abc/inner", mountRoot: "/docker/abc", mountPoint: "/sys/fs/cgroup/cpu")
            == ["/sys/fs/cgroup/cpu/inner", "/sys/fs/cgroup/cpu"])
        // A cgroup outside the mounted subtree: the mount point is the process's cgroup.
        #expect(CgroupCPUQuota.directories(cgroupPath: "/elsewhere", mountRoot: "/docker/abc", mountPoint: "/sys/fs/cgroup/cpu")
            == ["/sys/fs/cgroup/cpu"])
        // A prefix that is not a path component does not count as inside.
        #expect(CgroupCPUQuota.directories(cgroupPath: "/docker/abcdef", mountRoot: "/docker/abc", mountPoint: "/m") == ["/m"])
        let found = Self.quota(cgroup: "2:cpu:/docker/abc\n", mounts: mounts, files: [
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "50000", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000",
        ])
        #expect(found?.cpus == 0.5)
        #expect(CPUBudget(affinity: 2, quota: found?.cpus).cores == 1)
    }

    @Test func escapedMountPoints() {
        let mounts = "41 25 0:31 / /mnt/cgroup\\040v2 rw - cgroup2 none rw\n"
        #expect(CgroupCPUQuota.parseMounts(mounts) == [.init(version: .v2, root: "/", point: "/mnt/cgroup v2")])
        #expect(CgroupCPUQuota.unescape("a\\134b\\011c") == "a\\b\tc")
        // A backslash without three octal digits stays as it is.
        #expect(CgroupCPUQuota.unescape("a\\9") == "a\\9")
    }

    @Test("malformed files count as no limit", arguments: [
        "", "max", "0 100000", "-5 100000", "100000 0", "100000", "99999999999999999999 100000", "1e5 1e5", "100000 100000 7", "\u{0}\u{1}",
    ])
    func malformedCPUMax(text: String) {
        #expect(Self.quota(cgroup: "0::/\n", mounts: Self.v2Mount, files: ["/sys/fs/cgroup/cpu.max": text]) == nil)
    }

    @Test func malformedProcFiles() {
        for cgroup in ["", "garbage", "0::relative", ":::", "4:cpu:"] {
            #expect(Self.quota(cgroup: cgroup, mounts: Self.v2Mount + Self.v1Mounts, files: ["/sys/fs/cgroup/cpu.max": "100000 100000"]) == nil,
                    "\(cgroup)")
        }
        for mounts in ["", "- cgroup2", "1 2 3 4 5 6 - cgroup2", "29 23 0:26 / /sys/fs/cgroup rw - cgroup2"] {
            #expect(CgroupCPUQuota.parseMounts(mounts).isEmpty, "\(mounts)")
        }
    }

    @Test func coresRoundTheQuotaDown() {
        #expect([0.01, 0.5, 1, 1.5, 1.999, 2, 3.2, 64].map { CPUBudget(affinity: 4, quota: $0).cores } == [1, 1, 1, 1, 1, 2, 3, 4])
        #expect(CPUBudget(affinity: 0).cores == 1)
        // The largest quota the files can state, over a period of 1 µs.
        let huge = Self.quota(cgroup: "0::/\n", mounts: Self.v2Mount, files: ["/sys/fs/cgroup/cpu.max": "9223372036854775807 1"])
        #expect(CPUBudget(affinity: 4, quota: huge?.cpus).cores == 4)
    }
}
