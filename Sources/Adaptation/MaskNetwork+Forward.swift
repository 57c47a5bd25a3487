import RadaNumerics

/// The intermediates of a forward pass's last chunk, tied to one mask and one batch.
final class RetainedChunk<T: RAdaScalar> {
    let workspace: MaskWorkspace<T>
    let first: Int
    let count: Int
    let maxDeviation: [T]
    let maxDeviationCount: [Int]

    init(workspace: MaskWorkspace<T>, first: Int, count: Int, maxDeviation: [T], maxDeviationCount: [Int]) {
        self.workspace = workspace
        self.first = first
        self.count = count
        self.maxDeviation = maxDeviation
        self.maxDeviationCount = maxDeviationCount
    }
}

/// What the forward pass returns for a batch.
public struct MaskForward<T: RAdaScalar>: Sendable, Equatable {
    /// Masked logits `z = s · Σ_j M ⊙ R`, B×K row-major.
    public var logits: [T]
    /// Per image, `max_{k,j} |M − 1|` (the paper's L∞ mask distance).
    public var maxDeviation: [T]
    /// Per image, how many entries attain that maximum (the subgradient is shared among them).
    public var maxDeviationCount: [Int]
}

extension MaskNetwork {
    /// Masked logits for a batch of `batch` L2-normalised image embeddings `f` (B×D).
    public func forward(mask: RAdaMask<T>, features f: [T], batch: Int) -> MaskForward<T> {
        forward(mask: mask, features: f, batch: batch, retainLastChunk: false).result
    }

    /// The forward pass, optionally keeping its last chunk's intermediates so that `gradient` on
    /// the same mask and features need not recompute that chunk.
    ///
    /// Every product runs on the serial BLAS (`BLAS.onCallerThread`), in lanes this network owns:
    /// a stream's logits are the same bits whatever runs beside it, and steps of many streams at
    /// once never enter the threaded library together.
    func forward(mask: RAdaMask<T>, features f: [T], batch: Int, retainLastChunk: Bool) -> (result: MaskForward<T>, retained: RetainedChunk<T>?) {
        BLAS.onCallerThread { forwardOnCallerThread(mask: mask, features: f, batch: batch, retainLastChunk: retainLastChunk) }
    }

    private func forwardOnCallerThread(mask: RAdaMask<T>, features f: [T], batch: Int, retainLastChunk: Bool) -> (result: MaskForward<T>, retained: RetainedChunk<T>?) {
        precondition(f.count == batch * dimension, "features have \(f.count) values, need \(batch)×\(dimension)")
        precondition(mask.dimension == dimension, "mask dimension \(mask.dimension) differs from \(dimension)")
        var result = MaskForward<T>(
            logits: [T](repeating: 0, count: batch * classes), maxDeviation: [T](repeating: 0, count: batch),
            maxDeviationCount: [Int](repeating: 0, count: batch))
        guard batch > 0 else { return (result, nil) }
        let chunks = chunkOrder(batch: batch)
        let ws = MaskWorkspace<T>(
            chunkImages: imagesPerChunk(batch: batch), classes: classes, dimension: dimension, backward: retainLastChunk,
            lanes: headLanes())
        let q1 = queries1(mask: mask, features: f, batch: batch)
        let q2 = queries2(mask: mask)
        mask.values.withUnsafeBufferPointer { pp in
            f.withUnsafeBufferPointer { fp in
                q1.withUnsafeBufferPointer { q1p in
                    q2.withUnsafeBufferPointer { q2p in
                        // The gradient handles the first chunk of this order first, so computing it
                        // last here leaves it in the workspace.
                        for (b0, n) in chunks.dropFirst() + chunks.prefix(1) {
                            forwardChunk(ws, params: pp.baseAddress!, features: fp.baseAddress!, first: b0, count: n, q1: q1p.baseAddress!, q2: q2p.baseAddress!)
                            finishChunk(ws, features: fp.baseAddress!, first: b0, count: n, into: &result)
                        }
                    }
                }
            }
        }
        guard retainLastChunk else { return (result, nil) }
        let (first, count) = chunks[0]
        return (result, RetainedChunk(workspace: ws, first: first, count: count, maxDeviation: Array(result.maxDeviation[first..<(first + count)]),
                                      maxDeviationCount: Array(result.maxDeviationCount[first..<(first + count)])))
    }

    /// The chunks `(first image, image count)` of a batch, in the order the gradient visits them:
    /// the last chunk first (it is the one a retaining forward pass leaves in its workspace),
    /// then the others in order. One fixed order, so that retained or not, sums are the same.
    func chunkOrder(batch: Int) -> [(Int, Int)] {
        let size = imagesPerChunk(batch: batch)
        let all = stride(from: 0, to: batch, by: size).map { ($0, min(size, batch - $0)) }
        return Array(all.suffix(1) + all.dropLast())
    }

    /// `Q1(√s · f)` for the whole batch (B×D): one row per image, shared by all its K rows.
    func queries1(mask: RAdaMask<T>, features f: [T], batch: Int) -> [T] {
        let root = logitScale.squareRoot()
        let scaled = f.map { root * $0 }
        return project(mask: mask, map: .query1, input: scaled, rows: batch)
    }

    /// `Q2(√s · t)` (K×D): independent of the image, so computed once per batch.
    func queries2(mask: RAdaMask<T>) -> [T] {
        project(mask: mask, map: .query2, input: scaledText, rows: classes)
    }

    private func project(mask: RAdaMask<T>, map: RAdaMap, input: [T], rows: Int) -> [T] {
        let d = dimension
        var out = [T](repeating: 0, count: rows * d)
        let ones = [T](repeating: 1, count: rows)
        mask.values.withUnsafeBufferPointer { pp in
            input.withUnsafeBufferPointer { ip in
                ones.withUnsafeBufferPointer { op in
                    out.withUnsafeMutableBufferPointer { outp in
                        LinearAlgebra<T>.affine(
                            ip.baseAddress!, rows: rows, inCols: d, lda: d,
                            weight: pp.baseAddress! + RAdaMask<T>.weightRange(map, dimension: d).lowerBound, bias: pp.baseAddress! + RAdaMask<T>.biasRange(map, dimension: d).lowerBound,
                            outCols: d, out: outp.baseAddress!, ldo: d, ones: op.baseAddress!, lanes: headLanes())
                    }
                }
            }
        }
        return out
    }

    /// Fills the workspace for images `first..<first+count`: `s·R`, the stacked projections, the
    /// attention output `y` and `U = O(y)` (not yet turned into the mask).
    func forwardChunk(
        _ ws: MaskWorkspace<T>, params: UnsafePointer<T>, features f: UnsafePointer<T>, first: Int, count: Int,
        q1: UnsafePointer<T>, q2: UnsafePointer<T>
    ) {
        let d = dimension, k = classes, rows = count * k
        let s = logitScale
        text.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            for i in 0..<count {
                let fb = f + (first + i) * d
                for c in 0..<k {
                    let xr = ws.x + (i * k + c) * d, tc = t + c * d
                    for j in 0..<d { xr[j] = s * (fb[j] * tc[j]) }
                }
            }
        }
        let weights = params
        LinearAlgebra<T>.affine(
            ws.x, rows: rows, inCols: d, lda: d, weight: weights + RAdaMask<T>.weightRange(.query3, dimension: d).lowerBound,
            bias: params + RAdaMask<T>.biasRange(.query3, dimension: d).lowerBound, outCols: 3 * d, out: ws.qkv, ldo: 3 * d, ones: ws.ones,
            lanes: ws.lanes.count)
        let hd = headDimension
        let third = T(1) / 3
        forEachHead(lanes: ws.lanes.count) { h, lane in
            let scratch = ws.lanes[lane]
            for i in 0..<count {
                let image = first + i
                attentionWeights(ws, scratch, image: i, q1Row: q1 + image * d, q2: q2, head: h)
                let v = ws.qkv + i * k * 3 * d + 2 * d + h * hd
                let yh = ws.y + i * k * d + h * hd
                // Query 1's rows are identical, so its share of P·v is one weighted sum of v's rows.
                T.gemm(transA: false, transB: false, m: 1, n: hd, k: k, alpha: third, a: scratch.pi, lda: k, b: v, ldb: 3 * d, beta: 0, c: scratch.headRow, ldc: hd)
                for c in 0..<k {
                    let row = yh + c * d
                    for j in 0..<hd { row[j] = scratch.headRow[j] }
                }
                // Queries 2 and 3 share v and the factor K/3: one product of (σ2 + σ3) instead of
                // two (σ3 is recomputed wherever it is needed alone, as in the backward pass).
                let alpha = T(k) * third
                let (sigma2, sigma3) = (scratch.sigma2, scratch.sigma3)
                for e in 0..<(k * k) { sigma3[e] += sigma2[e] }
                T.gemm(transA: false, transB: false, m: k, n: hd, k: k, alpha: alpha, a: sigma3, lda: k, b: v, ldb: 3 * d, beta: 1, c: yh, ldc: d)
            }
        }
        LinearAlgebra<T>.affine(
            ws.y, rows: rows, inCols: d, lda: d, weight: weights + RAdaMask<T>.weightRange(.output, dimension: d).lowerBound,
            bias: params + RAdaMask<T>.biasRange(.output, dimension: d).lowerBound, outCols: d, out: ws.mask, ldo: d, ones: ws.ones,
            lanes: ws.lanes.count)
    }

    /// The flat-softmax weights of one image and head: `σ_i = softmax_flat(q_i κᵀ / (√d τ))` for
    /// queries 2 and 3 (so `P_i = K σ_i`), and query 1's row `π = softmax(q_1 κᵀ / (√d τ))`
    /// (every row of `P_1` equals π).
    func attentionWeights(
        _ ws: MaskWorkspace<T>, _ scratch: HeadScratch<T>, image i: Int, q1Row: UnsafePointer<T>, q2: UnsafePointer<T>, head h: Int
    ) {
        let d = dimension, k = classes, hd = headDimension
        let scale = 1 / T(hd).squareRoot()
        let inverseTau = 1 / temperature
        let base = ws.qkv + i * k * 3 * d
        let q3 = base + h * hd, key = base + d + h * hd
        T.gemm(transA: false, transB: true, m: k, n: k, k: hd, alpha: scale, a: q2 + h * hd, lda: d, b: key, ldb: 3 * d, beta: 0, c: scratch.sigma2, ldc: k)
        T.softmax(scratch.sigma2, count: k * k, scale: inverseTau)
        T.gemm(transA: false, transB: true, m: k, n: k, k: hd, alpha: scale, a: q3, lda: 3 * d, b: key, ldb: 3 * d, beta: 0, c: scratch.sigma3, ldc: k)
        T.softmax(scratch.sigma3, count: k * k, scale: inverseTau)
        T.gemm(transA: false, transB: true, m: 1, n: k, k: hd, alpha: scale, a: q1Row + h * hd, lda: d, b: key, ldb: 3 * d, beta: 0, c: scratch.pi, ldc: k)
        T.softmax(scratch.pi, count: k, scale: inverseTau)
    }

    /// Turns `U` into the mask `M = relu(1 + U)` in place and reduces it to logits and the L∞
    /// distance per image.
    func finishChunk(_ ws: MaskWorkspace<T>, features f: UnsafePointer<T>, first: Int, count: Int, into result: inout MaskForward<T>) {
        let d = dimension, k = classes
        let s = logitScale
        text.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            for i in 0..<count {
                let image = first + i
                var maximum: T = 0
                var ties = 0
                for c in 0..<k {
                    let m = ws.mask + (i * k + c) * d
                    for j in 0..<d {
                        let shifted = 1 + m[j]
                        let value = shifted > 0 ? shifted : 0
                        m[j] = value
                        let deviation = abs(value - 1)
                        if deviation > maximum {
                            maximum = deviation
                            ties = 1
                        } else if deviation == maximum {
                            ties += 1
                        }
                    }
                    result.logits[image * k + c] = s * Self.maskedDot(m, f + image * d, t + c * d, d)
                }
                result.maxDeviation[image] = maximum
                result.maxDeviationCount[image] = ties
            }
        }
    }
}
