import CNumerics

/// A fixed k × n weight held only as fp16, for `x · W + bias` on AVX512-FP16: half the memory of
/// fp32 and twice its multiply-adds per instruction. This is the fast arithmetic of Intel cores
/// that have AVX512-FP16 but no usable AMX (virtual machines often withhold AMX), where
/// AVX512-BF16 runs at half fp32's rate.
///
/// fp16 keeps 11 significant bits (bf16 8) in a range of ±65504, so the weight is scaled by one
/// power of two and each activation row by its own before rounding (exact, and undone on
/// output); products accumulate in fp16 over at most 128 terms per lane, then in fp32. The
/// relative error of an output is about 1.7e-3 of the sum of its terms' magnitudes, three
/// quarters of bf16's (see the tests); tower embeddings stay within cosine 0.9999 of fp32
/// (`TowerPrecisionTests`).
/// The packed layout is the bf16 kernels' (32-column panels of interleaved input pairs).
public struct FP16PackedMatrix: Sendable {
    /// Rows (inputs) and columns (outputs) of the original matrix.
    public let rows: Int
    public let cols: Int
    /// The power of two the weight was multiplied by before rounding.
    let scale: Float
    private let packed: [UInt16]

    /// Whether this CPU (and OS) runs the AVX512-FP16 kernel.
    public static var isAvailable: Bool { rada_avx512fp16_available() == 1 }

    /// The kernel's name, as `rada info` and the benchmarks print it.
    public static let kernelName = "AVX512-FP16"

    /// Packs a row-major rows × cols fp32 matrix, its values scaled and rounded to fp16. The
    /// kernel must be available.
    public init(rows: Int, cols: Int, storage: [Float]) {
        precondition(rows > 0 && cols > 0 && storage.count == rows * cols,
                     "FP16PackedMatrix: \(storage.count) values for \(rows)×\(cols)")
        precondition(Self.isAvailable, "FP16PackedMatrix: this CPU does not run \(Self.kernelName)")
        self.rows = rows
        self.cols = cols
        var packed = [UInt16](repeating: 0, count: rada_fp16_packed_count(Int32(rows), Int32(cols)))
        var scale: Float = 1
        storage.withUnsafeBufferPointer { w in
            scale = rada_fp16_weight_scale(w.baseAddress!, Int32(rows), Int32(cols), Int32(cols))
            packed.withUnsafeMutableBufferPointer {
                rada_fp16_pack_weight(w.baseAddress!, Int32(rows), Int32(cols), Int32(cols), scale, $0.baseAddress!)
            }
        }
        self.scale = scale
        self.packed = packed
    }

    /// Bytes of the packed weight.
    public var byteCount: Int { packed.count * MemoryLayout<UInt16>.stride }

    /// UInt16 values of scratch that `multiply` needs for `rows` input rows of `inputs` values
    /// (the rounded rows and one fp32 factor per row).
    public static func activationCount(rows: Int, inputs: Int) -> Int {
        rada_fp16_activation_count(Int32(rows), Int32(inputs))
    }

    /// `out (+)= input · self (+ bias)` for `count` input rows of `rows` values (leading dimension
    /// `rows`); `out` has leading dimension `cols`. `scratch`, when given, holds at least
    /// `activationCount(rows: count, inputs: rows)` values, 4-byte aligned (callers on a hot path
    /// pass one buffer for every product); without it the call allocates its own.
    public func multiply(
        _ input: UnsafePointer<Float>, count: Int, bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool, scratch: UnsafeMutablePointer<UInt16>? = nil
    ) {
        let scale = scale
        packed.withUnsafeBufferPointer { weights in
            HalfPrecisionProduct.run(
                count: count, inputs: rows, outputs: cols, panels: Int(rada_bf16_panels(Int32(cols))),
                scratchCount: Self.activationCount(rows: count, inputs: rows), scratch: scratch,
                convert: { rada_fp16_convert_rows(input, Int32(count), Int32(rows), Int32(rows), $0, $1, $2) },
                gemm: {
                    rada_avx512fp16_gemm(
                        Int32(count), Int32(cols), Int32(rows), $0, weights.baseAddress!, scale, bias, out, Int32(cols),
                        accumulate ? 1 : 0, $1, $2)
                })
        }
    }

    /// fp32 → fp16 (nearest even) → fp32, the rounding applied to every scaled weight and
    /// activation (`Kernels.floatToHalf`; the kernel's F16C conversions round the same way, to
    /// nearest even).
    public static func round(_ x: Float) -> Float {
        var value = x, half: UInt16 = 0, back: Float = 0
        Kernels.floatToHalf(&value, &half, count: 1)
        Kernels.halfToFloat(&half, &back, count: 1)
        return back
    }

    /// The kernel's rate, in GFLOP/s, of an n×n · n×n product (weight packed beforehand, the
    /// activation rounding included) on `BLAS.threadCount` threads, as `BF16PackedMatrix.squareRate`.
    public static func squareRate(n: Int, seconds: Double = 1) -> Double {
        let a = (0..<(n * n)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let matrix = FP16PackedMatrix(rows: n, cols: n, storage: a.reversed())
        var c = [Float](repeating: 0, count: n * n)
        return BLAS.measureRate(flopsPerCall: 2 * Double(n) * Double(n) * Double(n), seconds: seconds) {
            c.withUnsafeMutableBufferPointer { matrix.multiply(a, count: n, bias: nil, into: $0.baseAddress!, accumulate: false) }
        }
    }
}
