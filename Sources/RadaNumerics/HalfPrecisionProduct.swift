/// The two phases of every product on a weight packed in a 16-bit format (`BF16PackedMatrix`,
/// `FP16PackedMatrix`): the input rows rounded into the kernel's layout, split over the threads
/// by rows; then the kernel, split over the threads by 32-column panels.
enum HalfPrecisionProduct {
    /// `convert(scratch, rowBegin, rowEnd)` and `gemm(scratch, panelBegin, panelEnd)` are the
    /// format's C functions; `scratchCount` is its activation count for `count` rows. `scratch`
    /// (at least `scratchCount` values) is the caller's buffer, or nil to allocate one.
    static func run(
        count: Int, inputs: Int, outputs: Int, panels: Int, scratchCount: Int, scratch: UnsafeMutablePointer<UInt16>?,
        convert: (UnsafeMutablePointer<UInt16>, Int32, Int32) -> Void,
        gemm: (UnsafeMutablePointer<UInt16>, Int32, Int32) -> Void
    ) {
        if count == 0 { return }
        let threads = BLAS.parts(forFLOPs: 2 * count * inputs * outputs, upTo: panels)
        let owned = scratch == nil ? UnsafeMutablePointer<UInt16>.allocate(capacity: scratchCount) : nil
        defer { owned?.deallocate() }
        let activations = scratch ?? owned!
        // Rounding a batch-1 product's rows (50 × 768) takes microseconds, less than handing half
        // of it to another thread and waiting for it.
        let rowParts = count * inputs < 1 << 17 ? 1 : min(threads, count)
        BLAS.parallel(parts: rowParts) { part in
            convert(activations, Int32(count * part / rowParts), Int32(count * (part + 1) / rowParts))
        }
        BLAS.parallel(parts: threads) { part in
            gemm(activations, Int32(panels * part / threads), Int32(panels * (part + 1) / threads))
        }
    }
}
