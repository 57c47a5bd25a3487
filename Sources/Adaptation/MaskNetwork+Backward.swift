import RadaNumerics

extension MaskNetwork {
    /// Gradient of a loss with respect to every mask parameter (same layout as `RAdaMask.values`),
    /// given `∂L/∂z` (B×K) and, for the L∞ regulariser, `∂L/∂max|M−1|` per image (or nil).
    ///
    /// Each chunk's forward pass is recomputed here rather than stored, so memory does not grow
    /// with B.
    public func gradient(
        mask: RAdaMask<T>, features f: [T], batch: Int, logitGradient gz: [T], deviationGradient gdev: [T]?
    ) -> [T] {
        gradient(mask: mask, features: f, batch: batch, logitGradient: gz, deviationGradient: gdev, retained: nil)
    }

    /// As above; `retained` (from `forward(…, retainLastChunk: true)` on the same mask and
    /// features) spares recomputing one chunk, and the result is bit-identical. Its products run
    /// on the serial BLAS, as the forward pass's do.
    func gradient(
        mask: RAdaMask<T>, features f: [T], batch: Int, logitGradient gz: [T], deviationGradient gdev: [T]?,
        retained: RetainedChunk<T>?
    ) -> [T] {
        BLAS.onCallerThread {
            gradientOnCallerThread(mask: mask, features: f, batch: batch, logitGradient: gz, deviationGradient: gdev, retained: retained)
        }
    }

    private func gradientOnCallerThread(
        mask: RAdaMask<T>, features f: [T], batch: Int, logitGradient gz: [T], deviationGradient gdev: [T]?,
        retained: RetainedChunk<T>?
    ) -> [T] {
        precondition(gz.count == batch * classes, "logit gradient has \(gz.count) values, need \(batch)×\(classes)")
        let d = dimension, k = classes
        var grad = [T](repeating: 0, count: mask.values.count)
        guard batch > 0 else { return grad }
        let chunks = chunkOrder(batch: batch)
        if let retained { precondition(retained.first == chunks[0].0 && retained.count == chunks[0].1, "retained chunk is not this batch's") }
        let ws = retained?.workspace
            ?? MaskWorkspace<T>(chunkImages: imagesPerChunk(batch: batch), classes: k, dimension: d, backward: true, lanes: headLanes())
        let q1 = queries1(mask: mask, features: f, batch: batch)
        let q2 = queries2(mask: mask)
        var gq1 = [T](repeating: 0, count: batch * d)
        var gq2 = [T](repeating: 0, count: k * d)
        var scratch = MaskForward<T>(
            logits: [T](repeating: 0, count: batch * k), maxDeviation: [T](repeating: 0, count: batch),
            maxDeviationCount: [Int](repeating: 0, count: batch))
        mask.values.withUnsafeBufferPointer { pp in
            f.withUnsafeBufferPointer { fp in
                q1.withUnsafeBufferPointer { q1p in
                    q2.withUnsafeBufferPointer { q2p in
                        grad.withUnsafeMutableBufferPointer { gp in
                            gq1.withUnsafeMutableBufferPointer { gq1p in
                                gq2.withUnsafeMutableBufferPointer { gq2p in
                                    for (index, (b0, n)) in chunks.enumerated() {
                                        if index == 0, let retained {
                                            for i in 0..<n {
                                                scratch.maxDeviation[b0 + i] = retained.maxDeviation[i]
                                                scratch.maxDeviationCount[b0 + i] = retained.maxDeviationCount[i]
                                            }
                                        } else {
                                            forwardChunk(ws, params: pp.baseAddress!, features: fp.baseAddress!, first: b0, count: n, q1: q1p.baseAddress!, q2: q2p.baseAddress!)
                                            finishChunk(ws, features: fp.baseAddress!, first: b0, count: n, into: &scratch)
                                        }
                                        backwardChunk(
                                            ws, params: pp.baseAddress!, features: fp.baseAddress!, first: b0, count: n,
                                            q1: q1p.baseAddress!, q2: q2p.baseAddress!, forward: scratch, gz: gz, gdev: gdev,
                                            grad: gp.baseAddress!, gq1: gq1p.baseAddress!, gq2: gq2p.baseAddress!)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Queries 1 and 2 see frozen inputs √s·f and √s·t: one GEMM each for the whole batch.
        let root = logitScale.squareRoot()
        let scaledFeatures = f.map { root * $0 }
        let onesCount = max(batch, k)
        let ones = [T](repeating: 1, count: onesCount)
        grad.withUnsafeMutableBufferPointer { gp in
            let gradient = gp.baseAddress!
            ones.withUnsafeBufferPointer { op in
                gq1.withUnsafeBufferPointer { g in
                    scaledFeatures.withUnsafeBufferPointer { x in
                        T.gemm(transA: true, transB: false, m: d, n: d, k: batch, alpha: 1, a: g.baseAddress!, lda: d, b: x.baseAddress!, ldb: d, beta: 1, c: gradient + RAdaMask<T>.weightRange(.query1, dimension: d).lowerBound, ldc: d)
                        LinearAlgebra<T>.addColumnSums(g.baseAddress!, rows: batch, cols: d, ld: d, into: gradient + RAdaMask<T>.biasRange(.query1, dimension: d).lowerBound, ones: op.baseAddress!)
                    }
                }
                gq2.withUnsafeBufferPointer { g in
                    scaledText.withUnsafeBufferPointer { x in
                        LinearAlgebra<T>.gemm(
                            lanes: headLanes(), transA: true, transB: false, m: d, n: d, k: k, alpha: 1, a: g.baseAddress!, lda: d, b: x.baseAddress!, ldb: d, beta: 1,
                            c: gradient + RAdaMask<T>.weightRange(.query2, dimension: d).lowerBound, ldc: d)
                        LinearAlgebra<T>.addColumnSums(g.baseAddress!, rows: k, cols: d, ld: d, into: gradient + RAdaMask<T>.biasRange(.query2, dimension: d).lowerBound, ones: op.baseAddress!)
                    }
                }
            }
        }
        return grad
    }

    /// Backward through one chunk whose forward pass is in `ws` (`ws.mask` holds M). Accumulates
    /// into `grad` (maps query3, key, value, output), `gq1` (B×D) and `gq2` (K×D, summed over images).
    private func backwardChunk(
        _ ws: MaskWorkspace<T>, params: UnsafePointer<T>, features f: UnsafePointer<T>, first: Int, count: Int,
        q1: UnsafePointer<T>, q2: UnsafePointer<T>, forward: MaskForward<T>, gz: [T], gdev: [T]?,
        grad: UnsafeMutablePointer<T>, gq1: UnsafeMutablePointer<T>, gq2: UnsafeMutablePointer<T>
    ) {
        let d = dimension, k = classes, hd = headDimension, rows = count * k
        let s = logitScale
        let gU = ws.gradU!, gY = ws.gradY!, gQKV = ws.gradQKV!
        // ∂L/∂U: the logit path gives s·R where the relu is open; the L∞ path gives
        // sign(M−1)/ties at the entries that attain the maximum.
        text.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            for i in 0..<count {
                let image = first + i
                let regular = gdev?[image] ?? 0
                let maximum = forward.maxDeviation[image]
                let share = regular != 0 && maximum > 0 ? regular / T(forward.maxDeviationCount[image]) : 0
                let fb = f + image * d
                for c in 0..<k {
                    let m = ws.mask + (i * k + c) * d, g = gU + (i * k + c) * d, tc = t + c * d
                    let gLogit = gz[image * k + c] * s
                    for j in 0..<d {
                        let value = m[j]
                        guard value > 0 else {
                            g[j] = 0
                            continue
                        }
                        var gradient = gLogit * (fb[j] * tc[j])
                        if share != 0, abs(value - 1) == maximum {
                            gradient += value > 1 ? share : -share
                        }
                        g[j] = gradient
                    }
                }
            }
        }
        let weights = params
        let lanes = ws.lanes.count
        LinearAlgebra<T>.gemm(
            lanes: lanes, transA: true, transB: false, m: d, n: d, k: rows, alpha: 1, a: gU, lda: d, b: ws.y, ldb: d, beta: 1,
            c: grad + RAdaMask<T>.weightRange(.output, dimension: d).lowerBound, ldc: d)
        LinearAlgebra<T>.addColumnSums(gU, rows: rows, cols: d, ld: d, into: grad + RAdaMask<T>.biasRange(.output, dimension: d).lowerBound, ones: ws.ones)
        LinearAlgebra<T>.gemm(
            lanes: lanes, transA: false, transB: false, m: rows, n: d, k: d, alpha: 1, a: gU, lda: d,
            b: weights + RAdaMask<T>.weightRange(.output, dimension: d).lowerBound, ldb: d, beta: 0, c: gY, ldc: d)

        let third = T(1) / 3
        let kThird = T(k) * third
        let scale = 1 / T(hd).squareRoot()
        let inverseTau = 1 / temperature
        let kOverTau = T(k) * inverseTau
        forEachHead(lanes: ws.lanes.count) { h, lane in
            let scratch = ws.lanes[lane]
            let colSum = scratch.headRow
            for i in 0..<count {
                let image = first + i
                let base = ws.qkv + i * k * 3 * d
                let gBase = gQKV + i * k * 3 * d
                attentionWeights(ws, scratch, image: i, q1Row: q1 + image * d, q2: q2, head: h)
                let q3 = base + h * hd, key = base + d + h * hd, v = base + 2 * d + h * hd
                let gq3 = gBase + h * hd, gKey = gBase + d + h * hd, gv = gBase + 2 * d + h * hd
                let gyh = gY + i * k * d + h * hd
                let q1h = q1 + image * d + h * hd, q2h = q2 + h * hd
                // G = Σ_k ∂y[k]: query 1's output is broadcast over k.
                colSum.update(repeating: 0, count: hd)
                LinearAlgebra<T>.addColumnSums(gyh, rows: k, cols: hd, ld: d, into: colSum, ones: ws.ones)
                // ∂v = (K/3)(σ2 + σ3)ᵀ ∂y + (1/3) π ⊗ G: one product, the sum formed where ∂P
                // goes next.
                let (sigma2, sigma3, gradP) = (scratch.sigma2, scratch.sigma3, scratch.gradP)
                for e in 0..<(k * k) { gradP[e] = sigma2[e] + sigma3[e] }
                T.gemm(transA: true, transB: false, m: k, n: hd, k: k, alpha: kThird, a: gradP, lda: k, b: gyh, ldb: d, beta: 0, c: gv, ldc: 3 * d)
                T.gemm(transA: false, transB: false, m: k, n: hd, k: 1, alpha: third, a: scratch.pi, lda: 1, b: colSum, ldb: hd, beta: 1, c: gv, ldc: 3 * d)
                // ∂P (for P_2 and P_3 alike) = (1/3) ∂y vᵀ.
                T.gemm(transA: false, transB: true, m: k, n: k, k: hd, alpha: third, a: gyh, lda: d, b: v, ldb: 3 * d, beta: 0, c: gradP, ldc: k)
                // ∂π = (1/3) v G, then through the row softmax: ∂a = π ⊙ (∂π − ⟨∂π, π⟩) / τ.
                T.gemm(transA: false, transB: false, m: k, n: 1, k: hd, alpha: third, a: v, lda: 3 * d, b: colSum, ldb: 1, beta: 0, c: scratch.gradPi, ldc: 1)
                let piDot = LinearAlgebra<T>.dot(scratch.gradPi, scratch.pi, count: k)
                for c in 0..<k { scratch.gradPi[c] = scratch.pi[c] * (scratch.gradPi[c] - piDot) * inverseTau }
                // Through the flat softmax (P = K σ): ∂A = (K/τ) σ ⊙ (∂P − ⟨∂P, σ⟩), in place of σ.
                for sigma in [scratch.sigma2, scratch.sigma3] {
                    let inner = LinearAlgebra<T>.dot(scratch.gradP, sigma, count: k * k)
                    for e in 0..<(k * k) { sigma[e] = kOverTau * sigma[e] * (scratch.gradP[e] - inner) }
                }
                // A_i = q_i κᵀ/√d.
                T.gemm(transA: false, transB: false, m: k, n: hd, k: k, alpha: scale, a: scratch.sigma2, lda: k, b: key, ldb: 3 * d, beta: 1, c: gq2 + h * hd, ldc: d)
                T.gemm(transA: false, transB: false, m: k, n: hd, k: k, alpha: scale, a: scratch.sigma3, lda: k, b: key, ldb: 3 * d, beta: 0, c: gq3, ldc: 3 * d)
                T.gemm(transA: true, transB: false, m: k, n: hd, k: k, alpha: scale, a: scratch.sigma2, lda: k, b: q2h, ldb: d, beta: 0, c: gKey, ldc: 3 * d)
                T.gemm(transA: true, transB: false, m: k, n: hd, k: k, alpha: scale, a: scratch.sigma3, lda: k, b: q3, ldb: 3 * d, beta: 1, c: gKey, ldc: 3 * d)
                T.gemm(transA: false, transB: false, m: k, n: hd, k: 1, alpha: scale, a: scratch.gradPi, lda: 1, b: q1h, ldb: d, beta: 1, c: gKey, ldc: 3 * d)
                T.gemm(transA: false, transB: false, m: 1, n: hd, k: k, alpha: scale, a: scratch.gradPi, lda: k, b: key, ldb: 3 * d, beta: 0, c: gq1 + image * d + h * hd, ldc: hd)
            }
        }
        LinearAlgebra<T>.gemm(
            lanes: lanes, transA: true, transB: false, m: 3 * d, n: d, k: rows, alpha: 1, a: gQKV, lda: 3 * d, b: ws.x, ldb: d, beta: 1,
            c: grad + RAdaMask<T>.weightRange(.query3, dimension: d).lowerBound, ldc: d)
        LinearAlgebra<T>.addColumnSums(gQKV, rows: rows, cols: 3 * d, ld: 3 * d, into: grad + RAdaMask<T>.biasRange(.query3, dimension: d).lowerBound, ones: ws.ones)
    }
}
