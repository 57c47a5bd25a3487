import Foundation
import RadaNumerics

/// Where the towers' fp32 projections (`TowerPrecision.float32`) run: both give the same sums in
/// a different order (embeddings within cosine 0.99999 of each other, `FP32KernelTests`).
public enum FP32Kernel: Sendable, Equatable, CustomStringConvertible {
    /// OpenBLAS SGEMM on the input-major weight, which the library re-packs on every call.
    case openBLAS
    /// rada's packed kernel: each projection packed once at load (the unpacked copy dropped),
    /// on the given microkernel.
    case packed(PackedMatrix.Kernel)

    /// The names `RADA_FP32_GEMM` takes.
    public static let names = ["auto", "packed", "openblas"]

    public var description: String {
        switch self {
        case .openBLAS: "OpenBLAS SGEMM"
        case .packed(let kernel): "packed \(kernel)"
        }
    }

    /// A kernel and why it was chosen, for `rada info`, the server's log and benchmarks.
    public struct Choice: Sendable, Equatable {
        public let kernel: FP32Kernel
        public let reason: String
    }

    /// The kernel for a name on a machine whose fastest packed microkernel is `fastest`. `auto`
    /// is the packed kernel where it has vector instructions (AVX-512F or AVX2+FMA), where it
    /// beats OpenBLAS at the towers' shapes (Docs/benchmarks.md), else OpenBLAS (the portable
    /// C kernel is several times slower than a tuned library).
    public static func choose(_ name: String, fastest: PackedMatrix.Kernel = .fastest) throws -> Choice {
        switch name {
        case "openblas":
            return Choice(kernel: .openBLAS, reason: "asked for openblas")
        case "packed":
            return Choice(kernel: .packed(fastest), reason: "asked for packed; \(fastest) is this CPU's fastest microkernel")
        case "auto":
            if fastest == .portable {
                return Choice(kernel: .openBLAS, reason: "auto: this CPU has neither AVX-512F nor AVX2+FMA, so OpenBLAS")
            }
            return Choice(
                kernel: .packed(fastest),
                reason: "auto: \(fastest) weights packed once at load beat OpenBLAS's per-call re-packing at the towers' shapes (RADA_FP32_GEMM=openblas for OpenBLAS)")
        default:
            throw CheckpointError.unsupportedFP32Kernel(name)
        }
    }

    /// The kernel `RADA_FP32_GEMM` asks for, else auto.
    public static func resolve() throws -> Choice {
        let name = ProcessInfo.processInfo.environment["RADA_FP32_GEMM"].flatMap { $0.isEmpty ? nil : $0 }
        return try choose(name ?? "auto")
    }
}
