import CNumerics

/// A fixed k × n weight held only as bf16, for `x · W + bias` at reduced precision: half the
/// memory and half the streamed bytes of fp32, and the CPU's bf16 dot-product throughput.
/// Activations are rounded to bf16 (nearest even) once per product; products accumulate in fp32.
/// The relative error of each output is about 2⁻⁸ of the sum of its terms' magnitudes (see the
/// tests); tower embeddings stay within cosine 0.9999 of fp32 (`TowerPrecisionTests`).
///
/// One packed layout serves two kernels: Intel AMX tiles, and AVX512-BF16's `VDPBF16PS`, which
/// reads each 64-byte row of a tile as one operand (AMD Zen 4 and Intel Cooper Lake have it
/// without AMX).
public struct BF16PackedMatrix: Sendable {
    /// The instructions a product runs on.
    public enum Kernel: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Intel AMX tiles (`TDPBF16PS`): 32×32 output blocks.
        case amx = "AMX-BF16"
        /// AVX-512 `VDPBF16PS`: 12 rows × 32 columns in registers.
        case avx512 = "AVX512-BF16"

        public var description: String { rawValue }

        /// Whether this CPU (and, for AMX, the OS kernel, which grants the tile state once per
        /// process on request) runs it.
        public var isAvailable: Bool {
            switch self {
            case .amx: rada_amx_available() == 1
            case .avx512: rada_avx512bf16_available() == 1
            }
        }

        /// Every kernel this machine runs, fastest first.
        public static var available: [Kernel] { allCases.filter(\.isAvailable) }
    }

    /// Rows (inputs) and columns (outputs) of the original matrix.
    public let rows: Int
    public let cols: Int
    /// The kernel `multiply` runs on unless told otherwise.
    public let kernel: Kernel
    private let packed: [UInt16]

    /// The fastest kernel this machine has (AMX before AVX512-BF16), nil when it has none.
    public static var kernel: Kernel? { Kernel.available.first }

    /// Whether this machine runs any bf16 kernel.
    public static var isAvailable: Bool { kernel != nil }

    /// Packs a row-major rows × cols fp32 matrix (its values rounded to bf16) for `kernel`
    /// (default: the fastest this machine has; the packing is the same for every kernel).
    public init(rows: Int, cols: Int, storage: [Float], kernel: Kernel? = BF16PackedMatrix.kernel) {
        precondition(rows > 0 && cols > 0 && storage.count == rows * cols,
                     "BF16PackedMatrix: \(storage.count) values for \(rows)×\(cols)")
        self.kernel = kernel ?? .avx512
        self.rows = rows
        self.cols = cols
        var packed = [UInt16](repeating: 0, count: rada_bf16_packed_count(Int32(rows), Int32(cols)))
        storage.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer {
                rada_bf16_pack_weight(w.baseAddress!, Int32(rows), Int32(cols), Int32(cols), $0.baseAddress!)
            }
        }
        self.packed = packed
    }

    /// Bytes of the packed weight.
    public var byteCount: Int { packed.count * MemoryLayout<UInt16>.stride }

    /// bf16 values of scratch that `multiply` needs for `rows` input rows of `inputs` values.
    public static func activationCount(rows: Int, inputs: Int) -> Int {
        rada_bf16_activation_count(Int32(rows), Int32(inputs))
    }

    /// `out (+)= input · self (+ bias)` for `count` input rows of `rows` values (leading dimension
    /// `rows`); `out` has leading dimension `cols`. `scratch`, when given, holds at least
    /// `activationCount(rows: count, inputs: rows)` values (callers on a hot path pass one buffer
    /// for every product); without it the call allocates its own. `kernel` (default: the one
    /// packed for) must be available.
    public func multiply(
        _ input: UnsafePointer<Float>, count: Int, bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool, scratch: UnsafeMutablePointer<UInt16>? = nil, kernel: Kernel? = nil
    ) {
        let kernel = kernel ?? self.kernel
        guard kernel.isAvailable else {
            preconditionFailure("BF16PackedMatrix.multiply: this CPU does not run \(kernel)")
        }
        let gemm = kernel == .amx ? rada_amx_gemm : rada_avx512bf16_gemm
        packed.withUnsafeBufferPointer { weights in
            HalfPrecisionProduct.run(
                count: count, inputs: rows, outputs: cols, panels: Int(rada_bf16_panels(Int32(cols))),
                scratchCount: Self.activationCount(rows: count, inputs: rows), scratch: scratch,
                convert: { rada_bf16_convert_rows(input, Int32(count), Int32(rows), Int32(rows), $0, $1, $2) },
                gemm: {
                    gemm(Int32(count), Int32(cols), Int32(rows), $0, weights.baseAddress!, bias, out, Int32(cols), accumulate ? 1 : 0, $1, $2)
                })
        }
    }

    /// The rounding applied to every weight and activation: fp32 → bf16 (nearest even) → fp32.
    public static func round(_ x: Float) -> Float { rada_bf16_round(x) }
}

extension BF16PackedMatrix {
    /// A bf16 kernel's rate, in GFLOP/s, of an n×n · n×n product (weight packed beforehand, the
    /// activation rounding included) on `BLAS.threadCount` threads: the large-GEMM rate that bf16
    /// speed goals are stated against. The kernel must be available.
    public static func squareRate(n: Int, kernel: Kernel, seconds: Double = 1) -> Double {
        let a = (0..<(n * n)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let matrix = BF16PackedMatrix(rows: n, cols: n, storage: a.reversed(), kernel: kernel)
        var c = [Float](repeating: 0, count: n * n)
        return BLAS.measureRate(flopsPerCall: 2 * Double(n) * Double(n) * Double(n), seconds: seconds) {
            c.withUnsafeMutableBufferPointer { matrix.multiply(a, count: n, bias: nil, into: $0.baseAddress!, accumulate: false, kernel: kernel) }
        }
    }
}
