import CNumerics
import Foundation

/// A fixed k × n weight matrix packed once into column panels for `x · W + bias` with few rows
/// (the transformer towers' projections). OpenBLAS re-packs its operand on every call and blocks
/// for large M; this keeps the packed copy and streams activation rows past it (AVX-512 tiles,
/// with a portable fallback). Work is split by column panels over `BLAS.threadCount` threads,
/// so one thread setting governs every GEMM in the process.
public struct PackedMatrix: Sendable {
    /// Rows (inputs) and columns (outputs) of the original matrix.
    public let rows: Int
    public let cols: Int
    private let packed: [Float]

    /// Whether callers should keep packed copies: `RADA_PACKED_GEMM=1` in the environment. Off by
    /// default because the copy sits beside the BLAS one (OpenBLAS is faster from ~150 rows up).
    public static let isEnabled: Bool = ProcessInfo.processInfo.environment["RADA_PACKED_GEMM"] == "1"

    /// The most rows for which `multiply` beats OpenBLAS here (one activation block of the kernel).
    public static let maxRows = 144

    /// Packs a row-major rows × cols matrix. `BF16PackedMatrix.init` has the same shape for its
    /// own element type and packing kernel: one per packed format.
    public init(rows: Int, cols: Int, storage: [Float]) {
        precondition(rows > 0 && cols > 0 && storage.count == rows * cols,
                     "PackedMatrix: \(storage.count) values for \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        var packed = [Float](repeating: 0, count: rada_packed_size(Int32(rows), Int32(cols)))
        storage.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer {
                rada_pack_weight(w.baseAddress!, Int32(rows), Int32(cols), Int32(cols), $0.baseAddress!)
            }
        }
        self.packed = packed
    }

    /// `out (+)= input · self (+ bias)` for `count` input rows of `rows` values (leading dimension
    /// `rows`); `out` has leading dimension `cols`. `bias`, when given, has `cols` values.
    public func multiply(
        _ input: UnsafePointer<Float>, count: Int, bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        if count == 0 { return }
        let panels = Int(rada_packed_panels(Int32(cols)))
        let threads = BLAS.parts(forFLOPs: 2 * count * rows * cols, upTo: panels)
        packed.withUnsafeBufferPointer { weights in
            let run = { (part: Int) in
                let begin = panels * part / threads
                let end = panels * (part + 1) / threads
                rada_sgemm_packed(
                    Int32(count), Int32(cols), Int32(rows), input, Int32(rows), weights.baseAddress!, bias, out,
                    Int32(cols), accumulate ? 1 : 0, Int32(begin), Int32(end))
            }
            BLAS.parallel(parts: threads, run)
        }
    }

}
