import Foundation
import RadaNumerics

/// The arithmetic of the towers' projection GEMMs (the bulk of their FLOPs and weights).
public enum TowerPrecision: Sendable, Equatable, CustomStringConvertible {
    /// fp32 products (on `FP32Kernel`: rada's packed kernel or OpenBLAS): the reference
    /// arithmetic, within the parity fixtures' fp32 tolerance (measured max |Δ| 1e-7 on B/32).
    case float32
    /// Weights held only in bf16, products with fp32 accumulation on the given kernel (the
    /// attention heads' products too where that is faster: `attentionHeadBF16Kernel`): half the
    /// memory and about twice the speed; embeddings agree with fp32 to a cosine of at least
    /// 0.9999 (`TowerPrecisionTests`; 0.99998 on ViT-B/32 and B/16, Docs/benchmarks.md).
    case bfloat16(BF16PackedMatrix.Kernel)
    /// Weights held only in fp16, products on AVX512-FP16 (fp16 sums of at most 128 terms, then
    /// fp32): half the memory and about twice fp32's speed on Intel cores without AMX; embeddings
    /// agree with fp32 to a cosine of at least 0.9999 (`TowerPrecisionTests`).
    case float16

    /// The names a user gives: `fp32`, `bf16`, `fp16`, or `auto` (the default).
    public static let names = ["auto", "fp32", "bf16", "fp16"]

    /// What `auto` picks (`choose`), in the words of the command-line help.
    public static let autoSummary = "auto (bf16 on AMX-BF16, or on AVX512-BF16 on AMD CPUs; else fp16 on AVX512-FP16; else fp32)"

    public var description: String {
        switch self {
        case .float32: "fp32"
        case .bfloat16(let kernel): "bf16 (\(kernel))"
        case .float16: "fp16 (\(FP16PackedMatrix.kernelName))"
        }
    }

    /// The short name (`fp32`, `bf16` or `fp16`), for tables and JSON.
    public var name: String {
        switch self {
        case .float32: "fp32"
        case .bfloat16: "bf16"
        case .float16: "fp16"
        }
    }

    /// A precision and why it was chosen, for `rada info`, the server's log and benchmarks.
    public struct Choice: Sendable, Equatable {
        public let precision: TowerPrecision
        public let reason: String
    }

    /// The precision for a name (`auto`, `fp32`, `bf16`, `fp16`), on this machine. `auto` is the
    /// fastest arithmetic whose embeddings stay within cosine 0.9999 of fp32's: bf16 on AMX-BF16
    /// wherever it runs; bf16 on AVX512-BF16 on AMD cores, where it runs at about twice fp32's
    /// rate; else fp16 on AVX512-FP16 (Intel cores without usable AMX, where VDPBF16PS runs at half
    /// the rate of fp32 FMAs and fp16 FMAs at twice it: Docs/benchmarks.md, "Intel Xeon with
    /// AVX512-FP16, no AMX"); fp32 everywhere else. `bf16` or `fp16` on a CPU without its kernel
    /// is an error, not a silent fallback.
    public static func choose(
        _ name: String, kernel: BF16PackedMatrix.Kernel? = BF16PackedMatrix.kernel, vendor: CPUModel.Vendor = CPUModel.vendor,
        fp16: Bool = FP16PackedMatrix.isAvailable
    ) throws -> Choice {
        switch name {
        case "fp32":
            return Choice(precision: .float32, reason: "asked for fp32")
        case "bf16":
            guard let kernel else { throw CheckpointError.precisionUnavailable(name) }
            return Choice(precision: .bfloat16(kernel), reason: "asked for bf16; \(kernel) is this CPU's fastest bf16 kernel")
        case "fp16":
            guard fp16 else { throw CheckpointError.precisionUnavailable(name) }
            return Choice(precision: .float16, reason: "asked for fp16 (\(FP16PackedMatrix.kernelName))")
        case "auto":
            if let kernel, kernel == .amx || vendor == .amd {
                return Choice(
                    precision: .bfloat16(kernel),
                    reason: "auto: this CPU runs \(kernel), about twice fp32's rate with embeddings within cosine 0.9999 of fp32 (--precision fp32 for the reference arithmetic)")
            }
            if fp16 {
                return Choice(
                    precision: .float16,
                    reason: "auto: this CPU has no usable AMX but runs \(FP16PackedMatrix.kernelName), about twice fp32's rate with embeddings within cosine 0.9999 of fp32 (--precision fp32 for the reference arithmetic)")
            }
            if kernel == .avx512 {
                return Choice(
                    precision: .float32,
                    reason: "auto: this CPU has AVX512-BF16 but neither usable AMX nor AVX512-FP16, and outside AMD cores AVX512-BF16 runs slower than fp32, so fp32 (--precision bf16 to use it anyway)")
            }
            return Choice(precision: .float32, reason: "auto: this CPU has none of AMX-BF16, AVX512-BF16 and AVX512-FP16, so fp32")
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

    /// The kernel a tower in this precision runs its attention heads' two products on in bf16
    /// (`Kernels.attentionHeadBF16`), nil where the heads stay fp32: AMX-BF16 wherever the
    /// projections run on it; AVX512-BF16 on AMD cores only, since on Intel cores VDPBF16PS is
    /// slower than the fp32 head's FMAs (Emerald Rapids, one 50-token head: 13.4 against 8.4 µs;
    /// AMX-BF16 5.8 µs).
    public func attentionHeadBF16Kernel(vendor: CPUModel.Vendor = CPUModel.vendor) -> BF16PackedMatrix.Kernel? {
        guard case .bfloat16(let kernel) = self else { return nil }
        return kernel == .amx || vendor == .amd ? kernel : nil
    }

    /// Throws unless this machine can run the precision.
    public func checkSupported() throws {
        if case .bfloat16(let kernel) = self, !kernel.isAvailable {
            throw CheckpointError.precisionUnavailable("bf16 (\(kernel))")
        }
        if self == .float16, !FP16PackedMatrix.isAvailable {
            throw CheckpointError.precisionUnavailable(description)
        }
    }
}
