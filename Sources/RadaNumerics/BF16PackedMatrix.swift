import CNumerics

/// A fixed k × n weight held only as bf16 Intel AMX tiles, for `x · W + bias` at reduced
/// precision: half the memory and half the streamed bytes of fp32, and the tile unit's bf16
/// throughput. Activations are rounded to bf16 (nearest even) once per product; products
/// accumulate in fp32. The relative error of each output is about 2⁻⁸ of the sum of its terms'
/// magnitudes (see the tests), so this is an opt-in mode, not the default.
public struct BF16PackedMatrix: Sendable {
    /// Rows (inputs) and columns (outputs) of the original matrix.
    public let rows: Int
    public let cols: Int
    private let packed: [UInt16]

    /// Whether this CPU and kernel run AMX-BF16 (the kernel grants the tile state on request,
    /// once per process).
    public static var isAvailable: Bool { rada_amx_available() == 1 }

    /// Packs a row-major rows × cols fp32 matrix (its values rounded to bf16).
    public init(rows: Int, cols: Int, storage: [Float]) {
        precondition(rows > 0 && cols > 0 && storage.count == rows * cols,
                     "BF16PackedMatrix: \(storage.count) values for \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        var packed = [UInt16](repeating: 0, count: rada_amx_packed_count(Int32(rows), Int32(cols)))
        storage.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer {
                rada_amx_pack_weight(w.baseAddress!, Int32(rows), Int32(cols), Int32(cols), $0.baseAddress!)
            }
        }
        self.packed = packed
    }

    /// Bytes of the packed weight.
    public var byteCount: Int { packed.count * MemoryLayout<UInt16>.stride }

    /// bf16 values of scratch that `multiply` needs for `rows` input rows of `inputs` values.
    public static func activationCount(rows: Int, inputs: Int) -> Int {
        rada_amx_activation_count(Int32(rows), Int32(inputs))
    }

    /// `out (+)= input · self (+ bias)` for `count` input rows of `rows` values (leading dimension
    /// `rows`); `out` has leading dimension `cols`. `scratch`, when given, holds at least
    /// `activationCount(rows: count, inputs: rows)` values (callers on a hot path pass one buffer
    /// for every product); without it the call allocates its own. Requires `isAvailable`.
    public func multiply(
        _ input: UnsafePointer<Float>, count: Int, bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool, scratch: UnsafeMutablePointer<UInt16>? = nil
    ) {
        precondition(Self.isAvailable, "BF16PackedMatrix.multiply needs AMX-BF16")
        if count == 0 { return }
        let panels = Int(rada_amx_panels(Int32(cols)))
        let threads = BLAS.parts(forFLOPs: 2 * count * rows * cols, upTo: panels)
        let owned = scratch == nil ? UnsafeMutablePointer<UInt16>.allocate(capacity: Self.activationCount(rows: count, inputs: rows)) : nil
        defer { owned?.deallocate() }
        let activations = scratch ?? owned!
        BLAS.parallel(parts: min(threads, count)) { part in
            let parts = min(threads, count)
            rada_amx_convert_rows(
                input, Int32(count), Int32(rows), Int32(rows), activations, Int32(count * part / parts),
                Int32(count * (part + 1) / parts))
        }
        packed.withUnsafeBufferPointer { weights in
            BLAS.parallel(parts: threads) { part in
                rada_amx_gemm(
                    Int32(count), Int32(cols), Int32(rows), activations, weights.baseAddress!, bias, out, Int32(cols),
                    accumulate ? 1 : 0, Int32(panels * part / threads), Int32(panels * (part + 1) / threads))
            }
        }
    }

    /// The rounding applied to every weight and activation: fp32 → bf16 (nearest even) → fp32.
    public static func round(_ x: Float) -> Float { rada_bf16_round(x) }
}

extension BF16PackedMatrix {
    /// The AMX bf16 rate, in GFLOP/s, of an n×n · n×n product (weight packed beforehand, the
    /// activation rounding included) on `BLAS.threadCount` threads: the large-GEMM rate that bf16
    /// speed goals are stated against. Requires `isAvailable`.
    public static func squareRate(n: Int, seconds: Double = 1) -> Double {
        let a = (0..<(n * n)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let matrix = BF16PackedMatrix(rows: n, cols: n, storage: a.reversed())
        var c = [Float](repeating: 0, count: n * n)
        return BLAS.measureRate(flopsPerCall: 2 * Double(n) * Double(n) * Double(n), seconds: seconds) {
            c.withUnsafeMutableBufferPointer { matrix.multiply(a, count: n, bias: nil, into: $0.baseAddress!, accumulate: false) }
        }
    }
}
