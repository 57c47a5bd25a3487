import CNumerics

/// A fixed k × n fp32 weight matrix packed once into 32-column panels for `x · W + bias` (the
/// transformer towers' projections). OpenBLAS re-packs its operand on every call (340 MB per
/// ViT-B/32 pass); this keeps only the packed copy and streams activation rows past it on a
/// register-blocked microkernel chosen at run time by CPU features. Work is split by column
/// panels over `BLAS.threadCount` threads, so one thread setting governs every product.
public struct PackedMatrix: Sendable {
    /// The microkernels, fastest first.
    public enum Kernel: String, Sendable, CaseIterable, CustomStringConvertible {
        /// AVX-512F: 12 rows × 32 columns in 24 zmm accumulators.
        case avx512 = "AVX-512F"
        /// AVX2 + FMA: 6 rows × 16 columns in 12 ymm accumulators.
        case avx2 = "AVX2+FMA"
        /// Plain C the compiler vectorises for the baseline target; runs on every CPU.
        case portable = "portable C"

        public var description: String { rawValue }

        var code: Int32 {
            switch self {
            case .avx512: Int32(RADA_F32_AVX512)
            case .avx2: Int32(RADA_F32_AVX2)
            case .portable: Int32(RADA_F32_PORTABLE)
            }
        }

        /// Whether this CPU (and the OS, which must save the vector state) runs it.
        public var isAvailable: Bool { rada_f32_kernel_available(code) == 1 }

        /// Every kernel this machine runs, fastest first (`portable` always).
        public static var available: [Kernel] { allCases.filter(\.isAvailable) }

        /// The fastest kernel this machine runs.
        public static var fastest: Kernel { available.first ?? .portable }
    }

    /// Rows (inputs) and columns (outputs) of the original matrix.
    public let rows: Int
    public let cols: Int
    /// The kernel `multiply` runs on unless told otherwise.
    public let kernel: Kernel
    private let packed: [Float]

    /// Packs a row-major rows × cols matrix for `kernel`, in that kernel's layout (AVX2 reads a
    /// panel's two 16-column halves one after the other), so it multiplies on that kernel only.
    /// `BF16PackedMatrix.init` has the same shape for its own element type.
    public init(rows: Int, cols: Int, storage: [Float], kernel: Kernel = .fastest) {
        precondition(rows > 0 && cols > 0 && storage.count == rows * cols,
                     "PackedMatrix: \(storage.count) values for \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.kernel = kernel
        var packed = [Float](repeating: 0, count: rada_packed_size(Int32(rows), Int32(cols)))
        storage.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer {
                rada_pack_weight(kernel.code, w.baseAddress!, Int32(rows), Int32(cols), Int32(cols), $0.baseAddress!)
            }
        }
        self.packed = packed
    }

    /// Bytes of the packed weight.
    public var byteCount: Int { packed.count * MemoryLayout<Float>.stride }

    /// `out (+)= input · self (+ bias)` for `count` input rows of `rows` values (leading dimension
    /// `rows`); `out` has leading dimension `cols`. `bias`, when given, has `cols` values. Runs
    /// on the kernel packed for, which must be available.
    public func multiply(
        _ input: UnsafePointer<Float>, count: Int, bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        guard kernel.isAvailable else { preconditionFailure("PackedMatrix.multiply: this CPU does not run \(kernel)") }
        if count == 0 { return }
        let panels = Int(rada_packed_panels(Int32(cols)))
        let threads = BLAS.parts(forFLOPs: 2 * count * rows * cols, upTo: panels)
        packed.withUnsafeBufferPointer { weights in
            BLAS.parallel(parts: threads) { part in
                rada_sgemm_packed(
                    kernel.code, Int32(count), Int32(cols), Int32(rows), input, Int32(rows), weights.baseAddress!, bias,
                    out, Int32(cols), accumulate ? 1 : 0, Int32(panels * part / threads),
                    Int32(panels * (part + 1) / threads))
            }
        }
    }
}

extension PackedMatrix {
    /// A kernel's rate, in GFLOP/s, of an m×k · k×n product (weight packed beforehand) on
    /// `BLAS.threadCount` threads, for comparing it with OpenBLAS at the towers' shapes.
    public static func rate(m: Int, k: Int, n: Int, kernel: Kernel, seconds: Double = 0.3) -> Double {
        let a = (0..<(m * k)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let w = (0..<(k * n)).map { Float(($0 * 104_729) % 1000) / 1000 - 0.5 }
        let matrix = PackedMatrix(rows: k, cols: n, storage: w, kernel: kernel)
        var c = [Float](repeating: 0, count: m * n)
        return BLAS.measureRate(flopsPerCall: 2 * Double(m) * Double(k) * Double(n), seconds: seconds) {
            c.withUnsafeMutableBufferPointer { matrix.multiply(a, count: m, bias: nil, into: $0.baseAddress!, accumulate: false) }
        }
    }
}
