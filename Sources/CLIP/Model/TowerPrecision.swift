import Foundation
import RadaNumerics

/// The arithmetic of the towers' projection GEMMs (the bulk of their FLOPs and weights).
public enum TowerPrecision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// fp32 weights through BLAS: the reference, bit-compatible with the parity fixtures.
    case float32 = "fp32"
    /// Weights held only in bf16, products on Intel AMX tiles with fp32 accumulation: about half
    /// the memory and a multiple of the speed; embeddings agree with fp32 to a cosine of about
    /// 0.999 (Docs/benchmarks.md). Needs a CPU with AMX-BF16.
    case bfloat16 = "bf16"

    public var description: String { rawValue }

    /// The precision a command asked for: its `--precision` flag, else `RADA_PRECISION` from the
    /// environment (so the server and every command can be switched without a flag), else fp32.
    public static func resolve(flag: String? = nil) throws -> TowerPrecision {
        let environment = ProcessInfo.processInfo.environment["RADA_PRECISION"].flatMap { $0.isEmpty ? nil : $0 }
        guard let value = flag ?? environment else { return .float32 }
        guard let precision = TowerPrecision(rawValue: value) else { throw CheckpointError.unsupportedPrecision(value) }
        return precision
    }

    /// Throws unless this machine can run the precision.
    public func checkSupported() throws {
        if self == .bfloat16 && !BF16PackedMatrix.isAvailable { throw CheckpointError.precisionUnavailable(rawValue) }
    }
}
