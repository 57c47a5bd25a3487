import Foundation
import RadaNumerics

/// The arithmetic of the towers' projection GEMMs (the bulk of their FLOPs and weights).
public enum TowerPrecision: Sendable, Equatable, CustomStringConvertible {
    /// fp32 products (on `FP32Kernel`: rada's packed kernel or OpenBLAS): the reference
    /// arithmetic, within the parity fixtures' fp32 tolerance (measured max |Δ| 1e-7 on B/32).
    case float32
    /// Weights held only in bf16, products with fp32 accumulation on the given kernel: half the
    /// memory and about twice the speed; embeddings agree with fp32 to a cosine of at least
    /// 0.9999 (`TowerPrecisionTests`; 0.99998 on ViT-B/32 and B/16, Docs/benchmarks.md).
    case bfloat16(BF16PackedMatrix.Kernel)

    /// The names a user gives: `fp32`, `bf16`, or `auto` (the default).
    public static let names = ["auto", "fp32", "bf16"]

    /// What `auto` picks (`choose`), in the words of the command-line help.
    public static let autoSummary = "auto (bf16 on AMX-BF16, or on AVX512-BF16 on AMD CPUs; else fp32)"

    public var description: String {
        switch self {
        case .float32: "fp32"
        case .bfloat16(let kernel): "bf16 (\(kernel))"
        }
    }

    /// The short name (`fp32` or `bf16`), for tables and JSON.
    public var name: String {
        switch self {
        case .float32: "fp32"
        case .bfloat16: "bf16"
        }
    }

    /// A precision and why it was chosen, for `rada info`, the server's log and benchmarks.
    public struct Choice: Sendable, Equatable {
        public let precision: TowerPrecision
        public let reason: String
    }

    /// The precision for a name (`auto`, `fp32`, `bf16`), on this machine. `auto` is the fastest
    /// arithmetic whose embeddings stay within cosine 0.9999 of fp32's: bf16 on AMX-BF16 wherever
    /// it runs; bf16 on AVX512-BF16 on AMD cores, where it runs at about twice fp32's rate; fp32
    /// everywhere else, Intel cores with AVX512-BF16 but no AMX among them, where VDPBF16PS ran at
    /// half the rate of fp32 FMAs (Docs/benchmarks.md, "Intel Xeon with AMX"). `bf16` on a CPU
    /// without a bf16 kernel is an error, not a silent fallback.
    public static func choose(
        _ name: String, kernel: BF16PackedMatrix.Kernel? = BF16PackedMatrix.kernel, vendor: CPUModel.Vendor = CPUModel.vendor
    ) throws -> Choice {
        switch name {
        case "fp32":
            return Choice(precision: .float32, reason: "asked for fp32")
        case "bf16":
            guard let kernel else { throw CheckpointError.precisionUnavailable(name) }
            return Choice(precision: .bfloat16(kernel), reason: "asked for bf16; \(kernel) is this CPU's fastest bf16 kernel")
        case "auto":
            guard let kernel else {
                return Choice(precision: .float32, reason: "auto: this CPU has neither AMX-BF16 nor AVX512-BF16, so fp32")
            }
            if kernel == .avx512 && vendor != .amd {
                return Choice(
                    precision: .float32,
                    reason: "auto: this CPU has AVX512-BF16 but no usable AMX, and outside AMD cores AVX512-BF16 runs slower than fp32, so fp32 (--precision bf16 to use it anyway)")
            }
            return Choice(
                precision: .bfloat16(kernel),
                reason: "auto: this CPU runs \(kernel), about twice fp32's rate with embeddings within cosine 0.9999 of fp32 (--precision fp32 for the reference arithmetic)")
        default:
            throw CheckpointError.unsupportedPrecision(name)
        }
    }

    /// The precision a command asked for: its `--precision` flag, else `RADA_PRECISION` from the
    /// environment (so the server and every command can be switched without a flag), else auto.
    public static func resolve(flag: String? = nil) throws -> Choice {
        let environment = ProcessInfo.processInfo.environment["RADA_PRECISION"].flatMap { $0.isEmpty ? nil : $0 }
        return try choose(flag ?? environment ?? "auto")
    }

    /// Throws unless this machine can run the precision.
    public func checkSupported() throws {
        if case .bfloat16(let kernel) = self, !kernel.isAvailable {
            throw CheckpointError.precisionUnavailable("bf16 (\(kernel))")
        }
    }
}
