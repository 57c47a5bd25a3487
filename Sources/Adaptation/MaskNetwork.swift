import RadaNumerics

/// The frozen side of the RAda layer for one class set: the class embeddings `t` (K×D), the
/// logit scale `s`, the number of heads and the attention temperature τ. Together with a
/// `RAdaMask` it computes masked logits and their gradients (see `Docs/rada.md`).
///
/// Work is done one chunk of images at a time (`chunkRows` rows of the B·K×D rational matrix,
/// at least one image), so memory does not grow with the batch.
public struct MaskNetwork<T: RAdaScalar>: Sendable, Equatable {
    public let classes: Int
    public let dimension: Int
    public let heads: Int
    public let logitScale: T
    public let temperature: T
    /// Class embeddings, K×D row-major.
    public let text: [T]
    /// `√s · t`, the input of query 2 (K×D).
    let scaledText: [T]
    /// Target rows per chunk; a chunk holds `max(1, chunkRows / K)` images.
    public var chunkRows: Int = 512
    /// Most heads run at once (default: the BLAS thread count); see `headLanes`.
    public var headLaneLimit: Int?

    public var headDimension: Int { dimension / heads }

    /// Throws when the shapes disagree or D does not divide by the number of heads.
    public init(text: [T], classes: Int, dimension: Int, heads: Int, logitScale: T, temperature: T = 1) throws {
        guard classes >= 1 else { throw AdaptationError.invalidShape("need at least one class, got \(classes)") }
        guard dimension >= 1 else { throw AdaptationError.invalidShape("embedding dimension must be positive, got \(dimension)") }
        guard heads >= 1, dimension % heads == 0 else {
            throw AdaptationError.headsDoNotDivideDimension(dimension: dimension, heads: heads)
        }
        guard text.count == classes * dimension else {
            throw AdaptationError.invalidShape("class embeddings have \(text.count) values, need \(classes)×\(dimension)")
        }
        guard logitScale.isFinite, logitScale > 0 else { throw AdaptationError.invalidHyperparameter("logit scale must be finite and positive, got \(logitScale)") }
        guard temperature.isFinite, temperature > 0 else { throw AdaptationError.invalidHyperparameter("attention temperature must be finite and positive, got \(temperature)") }
        self.classes = classes
        self.dimension = dimension
        self.heads = heads
        self.logitScale = logitScale
        self.temperature = temperature
        self.text = text
        let root = logitScale.squareRoot()
        self.scaledText = text.map { root * $0 }
    }

    func imagesPerChunk(batch: Int) -> Int { max(1, min(batch, chunkRows / classes)) }

    /// Bytes of scratch memory a forward (or forward+backward) pass allocates for `batch` images,
    /// beside the B×K logits and the per-batch K×D / B×D query buffers.
    public func workspaceBytes(batch: Int, backward: Bool) -> Int {
        let c = imagesPerChunk(batch: batch)
        let rows = c * classes, d = dimension, k = classes
        var count = rows * d * 4 + max(rows, k) + headLanes() * (2 * k * k + 2 * k + d)
        if backward { count += headLanes() * k * k + rows * d * 5 }
        return count * MemoryLayout<T>.stride
    }

    /// How many heads run at once: one per BLAS thread when the per-head products are big enough
    /// to pay for the hand-off (from K = 32), each lane with its own K×K scratch and its products
    /// on its own thread (`BLAS.onCallerThread`). At K = 1000 OpenBLAS's own threading of a
    /// K×K×d product scaled poorly (two threads barely beat one); whole heads per thread scale
    /// with the cores. Without a serial BLAS library the heads run one after another.
    func headLanes() -> Int {
        let threads = headLaneLimit ?? BLAS.threadCount
        return threads > 1 && classes >= 32 && BLAS.hasCallerThreadLibrary ? min(threads, heads) : 1
    }

    /// Runs `body(head, lane)` for every head, lanes in parallel (heads lane, lane + lanes, …),
    /// each lane's BLAS products on its own thread. Heads write disjoint columns, so results do
    /// not depend on the lane count.
    func forEachHead(lanes: Int, _ body: (_ head: Int, _ lane: Int) -> Void) {
        if lanes <= 1 {
            for h in 0..<heads { body(h, 0) }
            return
        }
        BLAS.parallel(parts: lanes) { lane in
            BLAS.onCallerThread {
                for h in stride(from: lane, to: heads, by: lanes) { body(h, lane) }
            }
        }
    }

    /// Zero-shot CLIP logits `s · Σ_j f[b,j]·t[k,j]`, computed by the same reduction as the masked
    /// logits with a mask of ones, so the two agree bit for bit when the mask is exactly 1.
    public func zeroShotLogits(features f: [T], batch: Int) -> [T] {
        var out = [T](repeating: 0, count: batch * classes)
        let ones = [T](repeating: 1, count: dimension)
        f.withUnsafeBufferPointer { fp in
            text.withUnsafeBufferPointer { tp in
                ones.withUnsafeBufferPointer { op in
                    for b in 0..<batch {
                        for k in 0..<classes {
                            out[b * classes + k] = logitScale * Self.maskedDot(
                                op.baseAddress!, fp.baseAddress! + b * dimension, tp.baseAddress! + k * dimension, dimension)
                        }
                    }
                }
            }
        }
        return out
    }

    /// `Σ_j m[j] · (f[j] · t[j])`, summed in index order: the one reduction behind every logit.
    @inline(__always)
    static func maskedDot(_ m: UnsafePointer<T>, _ f: UnsafePointer<T>, _ t: UnsafePointer<T>, _ n: Int) -> T {
        var acc: T = 0
        for j in 0..<n { acc += m[j] * (f[j] * t[j]) }
        return acc
    }
}

/// GEMM-backed helpers shared by the forward and backward passes.
enum LinearAlgebra<T: RAdaScalar> {
    /// Rows per block of `affine` and `gemm(lanes:…)`: blocks of a fixed size, whatever the
    /// lanes, so that a row's bits never depend on how many lanes ran the product; 256 is where
    /// Debian's BLIS leaves its slower small-matrix path.
    static var blockRows: Int { 256 }

    /// Runs `body(first, count)` for the blocks of `blockRows` rows of `rows`, on up to `lanes`
    /// threads, each block's products on its thread's caller-thread library: at K = 1000 a
    /// one-image chunk is 1000 rows, and its maps (1.6 GFLOP for query/key/value alone) ran on
    /// one core while the other waited.
    static func inRowBlocks(_ rows: Int, lanes: Int, _ body: (_ first: Int, _ count: Int) -> Void) {
        let size = blockRows, blocks = (rows + size - 1) / size
        let parts = min(lanes, blocks)
        guard parts > 1 else {
            for b in 0..<blocks { body(b * size, min(size, rows - b * size)) }
            return
        }
        BLAS.parallel(parts: parts) { part in
            BLAS.onCallerThread {
                for b in stride(from: part, to: blocks, by: parts) { body(b * size, min(size, rows - b * size)) }
            }
        }
    }

    /// `out[r, :] = input[r, :] · Wᵀ + c` for `rows` rows (input row length `inCols`,
    /// `outCols` outputs, `out` leading dimension `ldo`), in row blocks over `lanes`. The bias is
    /// added by a rank-one GEMM.
    static func affine(
        _ input: UnsafePointer<T>, rows: Int, inCols: Int, lda: Int, weight: UnsafePointer<T>, bias: UnsafePointer<T>,
        outCols: Int, out: UnsafeMutablePointer<T>, ldo: Int, ones: UnsafePointer<T>, lanes: Int
    ) {
        inRowBlocks(rows, lanes: lanes) { first, count in
            let (blockInput, blockOut) = (input + first * lda, out + first * ldo)
            T.gemm(transA: false, transB: false, m: count, n: outCols, k: 1, alpha: 1, a: ones, lda: 1, b: bias, ldb: outCols, beta: 0, c: blockOut, ldc: ldo)
            T.gemm(transA: false, transB: true, m: count, n: outCols, k: inCols, alpha: 1, a: blockInput, lda: lda, b: weight, ldb: inCols, beta: 1, c: blockOut, ldc: ldo)
        }
    }

    /// `T.gemm` with C's m rows in blocks over `lanes` (op(A)'s rows are A's columns when
    /// `transA`): every entry is summed over k in one call, as without blocks.
    static func gemm(
        lanes: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T, a: UnsafePointer<T>, lda: Int,
        b: UnsafePointer<T>, ldb: Int, beta: T, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        inRowBlocks(m, lanes: lanes) { first, count in
            T.gemm(transA: transA, transB: transB, m: count, n: n, k: k, alpha: alpha, a: transA ? a + first : a + first * lda, lda: lda,
                   b: b, ldb: ldb, beta: beta, c: c + first * ldc, ldc: ldc)
        }
    }

    /// `dst[j] += Σ_r src[r, j]` for a rows×cols block with leading dimension `ld`.
    static func addColumnSums(_ src: UnsafePointer<T>, rows: Int, cols: Int, ld: Int, into dst: UnsafeMutablePointer<T>, ones: UnsafePointer<T>) {
        T.gemm(transA: false, transB: false, m: 1, n: cols, k: rows, alpha: 1, a: ones, lda: rows, b: src, ldb: ld, beta: 1, c: dst, ldc: cols)
    }

    /// `Σ_i x[i]·y[i]`.
    static func dot(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, count: Int) -> T {
        var out: T = 0
        T.gemm(transA: false, transB: false, m: 1, n: 1, k: count, alpha: 1, a: x, lda: count, b: y, ldb: 1, beta: 0, c: &out, ldc: 1)
        return out
    }
}
