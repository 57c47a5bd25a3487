import Foundation
import RadaNumerics
import Testing

/// `RADA_CPU_LIMIT` makes a process dispatch as a lesser CPU would: each cap keeps exactly the
/// kernels this machine has at or below it, OpenBLAS's family follows, and an unknown name stops
/// the process with a message instead of capping nothing. Read through `rada info` in child
/// processes, because the probe runs once per process.
@Suite(.enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"))
struct CPULimitCommandLineTests {
    /// `rada info`'s fields, with `extra` added to the environment (an empty value unsets the
    /// variable); in the cgroup directory `cgroup` when given (a shell moves itself there, then
    /// becomes rada).
    static func info(limit: String?, environment extra: [String: String] = [:], cgroup: String? = nil) throws -> (status: Int32, fields: [String: String], error: String) {
        let process = Process()
        if let cgroup, let rada = radaExecutable {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$1\" info", cgroup, rada.path]
        } else {
            process.executableURL = radaExecutable // the suite runs only where it exists
            process.arguments = ["info"]
        }
        var environment = ProcessInfo.processInfo.environment
        environment["RADA_CPU_LIMIT"] = limit
        // The cap must pick the core family; a user's own choice would override it.
        environment["OPENBLAS_CORETYPE"] = nil
        environment["RADA_PRECISION"] = nil
        environment["RADA_FP32_GEMM"] = nil
        environment["RADA_POOL_SPIN_US"] = nil
        environment["OPENBLAS_THREAD_TIMEOUT"] = nil
        for (name, value) in extra { environment[name] = value.isEmpty ? nil : value }
        process.environment = environment
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (process.terminationStatus, fields, String(decoding: errorData, as: UTF8.self))
    }

    static func list(_ value: String?) -> Set<String> {
        guard let value, value != "none" else { return [] }
        return Set(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    /// What each cap allows, by the names `rada info` prints.
    static let allowedBF16: [String: Set<String>] = [
        "portable": [], "avx2": [], "avx512f": [], "avx512bf16": ["AVX512-BF16"], "avx512fp16": ["AVX512-BF16"],
        "amx": ["AMX-BF16", "AVX512-BF16"],
    ]
    static let allowedFP16: [String: Set<String>] = [
        "portable": [], "avx2": [], "avx512f": [], "avx512bf16": [], "avx512fp16": ["AVX512-FP16"], "amx": ["AVX512-FP16"],
    ]
    static let allowedFP32: [String: Set<String>] = [
        "portable": ["portable C"], "avx2": ["AVX2+FMA", "portable C"], "avx512f": ["AVX-512F", "AVX2+FMA", "portable C"],
        "avx512bf16": ["AVX-512F", "AVX2+FMA", "portable C"], "avx512fp16": ["AVX-512F", "AVX2+FMA", "portable C"],
        "amx": ["AVX-512F", "AVX2+FMA", "portable C"],
    ]

    @Test func eachCapKeepsExactlyTheKernelsAtOrBelowIt() throws {
        let free = try Self.info(limit: nil)
        #expect(free.status == 0)
        #expect(free.fields["cpu.limit"] == nil)
        let freeBF16 = Self.list(free.fields["cpu.bf16_kernels"])
        let freeFP16 = Self.list(free.fields["cpu.fp16_kernels"])
        let freeFP32 = Self.list(free.fields["cpu.fp32_kernels"])
        #expect(freeFP32.contains("portable C"))
        for limit in ["portable", "avx2", "avx512f", "avx512bf16", "avx512fp16", "amx"] {
            let capped = try Self.info(limit: limit)
            #expect(capped.status == 0, "\(limit): \(capped.error)")
            #expect((capped.fields["cpu.limit"]?.hasPrefix(limit) ?? false) == (limit != "amx"), "\(limit)")
            #expect(Self.list(capped.fields["cpu.bf16_kernels"]) == freeBF16.intersection(Self.allowedBF16[limit]!), "\(limit)")
            #expect(Self.list(capped.fields["cpu.fp16_kernels"]) == freeFP16.intersection(Self.allowedFP16[limit]!), "\(limit)")
            let fp32 = Self.list(capped.fields["cpu.fp32_kernels"])
            #expect(fp32 == freeFP32.intersection(Self.allowedFP32[limit]!), "\(limit)")
            // With no bf16 or fp16 kernel left, auto falls back to fp32.
            if Self.list(capped.fields["cpu.bf16_kernels"]).isEmpty && Self.list(capped.fields["cpu.fp16_kernels"]).isEmpty {
                #expect(capped.fields["towers.precision"] == "fp32", "\(limit)")
            }
            // A tower in bf16 runs its heads in bf16 on AMX-BF16, or on AVX512-BF16 on AMD cores;
            // otherwise the head runs on the widest fp32 kernel left, never the portable one.
            let attention = capped.fields["towers.attention_kernel"] ?? ""
            let precision = capped.fields["towers.precision"] ?? ""
            if precision == "bf16 (AMX-BF16)" {
                #expect(attention.hasPrefix("bf16 head on AMX-BF16"), "\(limit): \(attention)")
            } else if precision == "bf16 (AVX512-BF16)" && CPUModel.vendor == .amd {
                #expect(attention.hasPrefix("bf16 head on AVX512-BF16"), "\(limit): \(attention)")
            } else if fp32.contains("AVX-512F") {
                #expect(attention.hasPrefix("fused head on AVX-512F"), "\(limit): \(attention)")
            } else if fp32.contains("AVX2+FMA") {
                #expect(attention.hasPrefix("fused head on AVX2+FMA"), "\(limit): \(attention)")
            } else {
                #expect(attention.hasPrefix("two products per head"), "\(limit): \(attention)")
            }
            switch limit {
            case "portable":
                #expect(capped.fields["towers.fp32_kernel"] == "OpenBLAS SGEMM")
                #expect(capped.fields["blas.core"] == "Prescott")
            case "avx2" where fp32.contains("AVX2+FMA"):
                #expect(capped.fields["towers.fp32_kernel"] == "packed AVX2+FMA")
                #expect(capped.fields["blas.core"] == "Haswell")
            default:
                break
            }
        }
    }

    /// `rada info` reports the kernel threads' bound and spin; the spin follows
    /// `RADA_POOL_SPIN_US` and an unreadable value leaves the default.
    @Test func kernelThreadsAreReported() throws {
        let plain = try Self.info(limit: nil)
        #expect(plain.fields["kernel_threads.max"]?.hasPrefix("\(BLAS.kernelThreadLimit) (") == true)
        #expect(plain.fields["kernel_threads.spin_us"]?.hasPrefix("200 (") == true)
        let set = try Self.info(limit: nil, environment: ["RADA_POOL_SPIN_US": "50"])
        #expect(set.fields["kernel_threads.spin_us"]?.hasPrefix("50 (") == true)
        let unreadable = try Self.info(limit: nil, environment: ["RADA_POOL_SPIN_US": "50us"])
        #expect(unreadable.fields["kernel_threads.spin_us"]?.hasPrefix("200 (") == true)
    }

    @Test func anUnknownCapIsRefusedWithTheNamesItTakes() throws {
        let refused = try Self.info(limit: "avx1024")
        #expect(refused.status != 0)
        #expect(refused.fields.isEmpty)
        #expect(refused.error.contains("unknown RADA_CPU_LIMIT 'avx1024'"))
        #expect(refused.error.contains("portable, avx2, avx512f, avx512bf16, avx512fp16, amx"))
    }
}
