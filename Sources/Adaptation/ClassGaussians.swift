import Foundation
import RadaNumerics

/// The Gaussian class model fused with the mask (Docs/rada.md, "Class Gaussians"; issue 15,
/// eighteenth and nineteenth validation rounds): DOTA's online linear discriminant on the
/// embeddings the mask sees, its scores added to the mask's logits with a weight that grows with
/// the evidence and is multiplied by centring's gate. `GaussianFusion()` itself is off.
public struct GaussianFusion: Codable, Sendable, Equatable {
    /// η: the largest fusion weight (0: off, the stream is the mask alone).
    public var maxWeight: Double = 0
    /// ρ: fusion weight per unit of mean class evidence, min(ρ·mean_k c_k, η).
    public var weightPerEvidence: Double = 0.05
    /// γ: every learnt image first multiplies all evidence (counts, sums, scatter) by γ, so the
    /// model's memory is about 1/(1 − γ) images.
    public var forgetting: Double = 0.995
    /// σ: each class's prior spread around its class embedding, σ/D per dimension.
    public var initialVariance: Double = 1
    /// ε: shrinkage of the pooled covariance towards the identity before it is inverted.
    public var shrinkage: Double = 1e-3
    /// The running class prior's memory in images (a plain mean until it has seen this many).
    public var priorWindow: Double = 256

    public init(
        maxWeight: Double = 0, weightPerEvidence: Double = 0.05, forgetting: Double = 0.995, initialVariance: Double = 1,
        shrinkage: Double = 1e-3, priorWindow: Double = 256
    ) {
        self.maxWeight = maxWeight
        self.weightPerEvidence = weightPerEvidence
        self.forgetting = forgetting
        self.initialVariance = initialVariance
        self.shrinkage = shrinkage
        self.priorWindow = priorWindow
    }

    public var isOn: Bool { maxWeight > 0 }

    /// The fusion weight before the gate: min(ρ · mean c, η).
    func weight(meanCount: Double) -> Double { min(weightPerEvidence * meanCount, maxWeight) }
}

/// The state behind `GaussianFusion` (part of the stream's state: checkpointed, cleared by a
/// reset). Each class k has a prior pseudo-image at its class embedding t_k, of weight 1 and
/// spread σ/D·I, plus the images learnt with soft label y_k, weighted and forgotten alike:
/// evidence n_k = Σ γ^age y_k, sums s_k = Σ γ^age y_k x. Its mean is μ_k = (t_k + s_k)/c_k with
/// c_k = 1 + n_k. One scatter T = Σ γ^age (Σ_k y_k) x·xᵀ serves every class: the pooled
/// within-class covariance is
///   Σ = (T + Σ_k t_k t_kᵀ + K·σ/D·I − Σ_k c_k μ_k μ_kᵀ) / Σ_k c_k,
/// the scatter of all weighted points about their own class's mean (exactly, for soft labels
/// too), so the state is K·D + D² numbers, not the K·D² of a covariance per class (2 GiB at
/// K = 1000, D = 512 in Float64). Scores are LDA's, g_k = xᵀΛμ_k − ½μ_kᵀΛμ_k with
/// Λ = ((1 − ε)Σ + εI)⁻¹.
public struct ClassGaussians: Sendable {
    /// n_k (K), empty until the first image is learnt.
    public internal(set) var evidence: [Double]
    /// s_k (K×D, row-major), empty until the first image is learnt.
    public internal(set) var sums: [Double]
    /// T (D×D, symmetric), empty until the first image is learnt.
    public internal(set) var scatter: [Double]
    /// π: the running mean pseudo-label (K), empty until the first image is learnt.
    public internal(set) var classPrior: [Double]
    /// Images learnt (what the prior's window counts; 0: nothing learnt, every array empty).
    public internal(set) var images: Double

    /// What scoring needs, derived from the statistics alone (never stored; not part of `==`).
    private var discriminant: Discriminant?

    struct Discriminant: Sendable {
        /// (L⁻¹)ᵀ (D×D) and p_k = μ_k·L⁻ᵀ (K×D), Float32, with ½|p_k|² (K): g = (x·L⁻ᵀ)·pᵀ − offsets.
        var transform: [Float]
        var means: [Float]
        var offsets: [Float]
        var dimension: Int
        /// mean_k c_k, for the fusion weight.
        var meanCount: Double
        /// False when the covariance could not be factored (damaged statistics): no scores.
        var usable: Bool
    }

    init() {
        (evidence, sums, scatter, classPrior, images) = ([], [], [], [], 0)
    }

    init(evidence: [Double], sums: [Double], scatter: [Double], classPrior: [Double], images: Double) {
        (self.evidence, self.sums, self.scatter, self.classPrior, self.images) = (evidence, sums, scatter, classPrior, images)
    }

    public var isEmpty: Bool { images == 0 }

    /// mean_k c_k = 1 + mean_k n_k.
    func meanCount(classes: Int) -> Double { 1 + evidence.reduce(0, +) / Double(classes) }

    /// The fusion's adjustment w·g for a batch of embeddings (B×K), w = min(ρ·mean c, η)·`gate`;
    /// nil when it is zero (the gate shut, or statistics that cannot be factored). Refreshes the
    /// derived discriminant first when the statistics have changed since it was computed.
    mutating func adjustment(_ x: [Float], batch: Int, text: Matrix, settings: GaussianFusion, gate: Double) -> [Float]? {
        guard gate > 0 else { return nil }
        if discriminant == nil { discriminant = Self.discriminant(self, text: text, settings: settings) }
        return Self.adjustment(x, batch: batch, discriminant: discriminant!, settings: settings, gate: gate)
    }

    /// As the mutating form, for a read-only stream (computes the discriminant when it is stale,
    /// without keeping it).
    func adjustmentWithoutCaching(_ x: [Float], batch: Int, text: Matrix, settings: GaussianFusion, gate: Double) -> [Float]? {
        guard gate > 0 else { return nil }
        let d = discriminant ?? Self.discriminant(self, text: text, settings: settings)
        return Self.adjustment(x, batch: batch, discriminant: d, settings: settings, gate: gate)
    }

    private static func adjustment(_ x: [Float], batch: Int, discriminant d: Discriminant, settings: GaussianFusion, gate: Double) -> [Float]? {
        let w = Float(settings.weight(meanCount: d.meanCount) * gate)
        guard d.usable, w > 0 else { return nil }
        let (dim, k) = (d.dimension, d.offsets.count)
        var whitened = [Float](repeating: 0, count: batch * dim)
        var scores = [Float](repeating: 0, count: batch * k)
        x.withUnsafeBufferPointer { x in
            d.transform.withUnsafeBufferPointer { t in
                whitened.withUnsafeMutableBufferPointer { o in
                    BLAS.sgemm(m: batch, n: dim, k: dim, a: x.baseAddress!, lda: dim, b: t.baseAddress!, ldb: dim, c: o.baseAddress!, ldc: dim)
                }
            }
        }
        whitened.withUnsafeBufferPointer { y in
            d.means.withUnsafeBufferPointer { p in
                scores.withUnsafeMutableBufferPointer { s in
                    BLAS.sgemm(transB: true, m: batch, n: k, k: dim, a: y.baseAddress!, lda: dim, b: p.baseAddress!, ldb: dim, c: s.baseAddress!, ldc: k)
                }
            }
        }
        for b in 0..<batch { for c in 0..<k { scores[b * k + c] = w * (scores[b * k + c] - d.offsets[c]) } }
        return scores
    }

    /// The discriminant of the current statistics (module-internal for the tests).
    static func discriminant(_ state: ClassGaussians, text: Matrix, settings: GaussianFusion) -> Discriminant {
        let (k, dim) = (text.rows, text.cols)
        let t = text.storage.map(Double.init)
        var counts = [Double](repeating: 1, count: k)
        var means = t
        if !state.isEmpty {
            for c in 0..<k {
                counts[c] = 1 + state.evidence[c]
                for i in 0..<dim { means[c * dim + i] = (t[c * dim + i] + state.sums[c * dim + i]) / counts[c] }
            }
        }
        let total = counts.reduce(0, +)
        // W = T + Σ t tᵀ + K·σ/D·I − Σ c μ μᵀ, the last as the Gram of the rows √c_k·μ_k.
        var w = state.isEmpty ? [Double](repeating: 0, count: dim * dim) : state.scatter
        var rows = means
        for c in 0..<k { let r = counts[c].squareRoot(); for i in 0..<dim { rows[c * dim + i] *= r } }
        t.withUnsafeBufferPointer { t in
            rows.withUnsafeBufferPointer { u in
                w.withUnsafeMutableBufferPointer { w in
                    BLAS.dgemm(transA: true, m: dim, n: dim, k: k, a: t.baseAddress!, lda: dim, b: t.baseAddress!, ldb: dim, beta: 1, c: w.baseAddress!, ldc: dim)
                    BLAS.dgemm(transA: true, m: dim, n: dim, k: k, alpha: -1, a: u.baseAddress!, lda: dim, b: u.baseAddress!, ldb: dim, beta: 1, c: w.baseAddress!, ldc: dim)
                }
            }
        }
        // A = (1 − ε)·W/Σc + ε·I, its factor and L⁻¹.
        let epsilon = settings.shrinkage, prior = Double(k) * settings.initialVariance / Double(dim)
        for i in 0..<(dim * dim) { w[i] *= (1 - epsilon) / total }
        for i in 0..<dim { w[i * dim + i] += (1 - epsilon) * prior / total + epsilon }
        let meanCount = total / Double(k)
        guard let factor = Cholesky.factorWithInverse(w, dimension: dim) else {
            return Discriminant(transform: [], means: [], offsets: [], dimension: dim, meanCount: meanCount, usable: false)
        }
        // p = μ·L⁻ᵀ (K×D) and the transform L⁻ᵀ (row i, column j: L⁻¹[j][i]).
        var p = [Double](repeating: 0, count: k * dim)
        means.withUnsafeBufferPointer { m in
            factor.inverse.withUnsafeBufferPointer { v in
                p.withUnsafeMutableBufferPointer { p in
                    BLAS.dgemm(transB: true, m: k, n: dim, k: dim, a: m.baseAddress!, lda: dim, b: v.baseAddress!, ldb: dim, c: p.baseAddress!, ldc: dim)
                }
            }
        }
        var transform = [Float](repeating: 0, count: dim * dim)
        for i in 0..<dim { for j in 0..<dim { transform[i * dim + j] = Float(factor.inverse[j * dim + i]) } }
        var offsets = [Float](repeating: 0, count: k)
        for c in 0..<k {
            var norm = 0.0
            for i in 0..<dim { norm += p[c * dim + i] * p[c * dim + i] }
            offsets[c] = Float(0.5 * norm)
        }
        let usable = p.allSatisfy(\.isFinite) && offsets.allSatisfy(\.isFinite) && transform.allSatisfy(\.isFinite)
        return Discriminant(transform: transform, means: p.map(Float.init), offsets: offsets, dimension: dim, meanCount: meanCount, usable: usable)
    }

    /// The pseudo-labels of a batch from the fused logits (B×K): each image's softmax first
    /// updates the running class prior π (in stream order), then each class's label is
    /// multiplied by min(1, 1/(K·π_k)), so a class the stream over-represents (a run of one
    /// class) learns at the rate of one seen a K-th of the time. To be followed by `learn` of the
    /// same batch, which counts its images.
    mutating func balancedLabels(logits: [Float], batch: Int, classes k: Int, settings: GaussianFusion) -> [Double] {
        var labels = [Double](repeating: 0, count: batch * k)
        if classPrior.isEmpty { classPrior = [Double](repeating: 0, count: k) }
        for b in 0..<batch {
            let y = Kernels.softmax(logits: logits[(b * k)..<((b + 1) * k)])
            let rate = 1 / min(settings.priorWindow, images + Double(b + 1))
            for c in 0..<k { classPrior[c] = (1 - rate) * classPrior[c] + rate * y[c] }
            for c in 0..<k { labels[b * k + c] = y[c] * min(1, 1 / (Double(k) * classPrior[c])) }
        }
        return labels
    }

    /// Learns a batch of embeddings (B×D) with labels (B×K, image b's weight for class k), in
    /// stream order: image b's contribution is forgotten by γ^(B−1−b) by the end of the batch,
    /// what came before by γ^B.
    mutating func learn(_ x: [Float], labels: [Double], batch: Int, classes k: Int, settings: GaussianFusion) {
        let dim = x.count / batch
        if evidence.isEmpty {
            evidence = [Double](repeating: 0, count: k)
            sums = [Double](repeating: 0, count: k * dim)
            scatter = [Double](repeating: 0, count: dim * dim)
        }
        if classPrior.isEmpty { classPrior = [Double](repeating: 0, count: k) }
        let gamma = settings.forgetting
        let decay = Foundation.pow(gamma, Double(batch))
        var weighted = labels
        var rowWeights = [Double](repeating: 0, count: batch)
        for b in 0..<batch {
            let age = Foundation.pow(gamma, Double(batch - 1 - b))
            var sum = 0.0
            for c in 0..<k {
                weighted[b * k + c] *= age
                sum += weighted[b * k + c]
            }
            rowWeights[b] = sum
        }
        for c in 0..<k {
            var added = 0.0
            for b in 0..<batch { added += weighted[b * k + c] }
            evidence[c] = decay * evidence[c] + added
        }
        let points = x.map(Double.init)
        var scaled = points
        for b in 0..<batch { for i in 0..<dim { scaled[b * dim + i] *= rowWeights[b] } }
        weighted.withUnsafeBufferPointer { y in
            points.withUnsafeBufferPointer { p in
                scaled.withUnsafeBufferPointer { q in
                    sums.withUnsafeMutableBufferPointer { s in
                        BLAS.dgemm(transA: true, m: k, n: dim, k: batch, a: y.baseAddress!, lda: k, b: p.baseAddress!, ldb: dim,
                                   beta: decay, c: s.baseAddress!, ldc: dim)
                    }
                    scatter.withUnsafeMutableBufferPointer { s in
                        BLAS.dgemm(transA: true, m: dim, n: dim, k: batch, a: q.baseAddress!, lda: dim, b: p.baseAddress!, ldb: dim,
                                   beta: decay, c: s.baseAddress!, ldc: dim)
                    }
                }
            }
        }
        Symmetric.average(&scatter, dimension: dim)
        images += Double(batch)
        discriminant = nil
    }

    /// Forgets the derived discriminant (settings that shape it have changed).
    mutating func invalidate() { discriminant = nil }

    /// Floating-point operations of one request of `batch` images: the discriminant (three K×D
    /// Grams and products, 6KD², the factor and its inverse, about D³), the scores (2BD² + 2BKD)
    /// and learning (2BKD + 2BD²).
    public static func flops(batch: Int, classes: Int, dimension: Int) -> Double {
        let (b, k, d) = (Double(batch), Double(classes), Double(dimension))
        return 6 * k * d * d + d * d * d + 4 * b * d * d + 4 * b * k * d
    }

    /// Peak scratch bytes of computing the discriminant or learning a batch: the scaled class
    /// means, the text embeddings and the whitened means in Float64 (3·K·D), the covariance, its
    /// factor and inverse (3·D²), the batch in Float64 twice and its labels.
    static func workspaceBytes(batch: Int, classes k: Int, dimension d: Int) -> Int {
        (3 * k * d + 3 * d * d + 2 * batch * d + batch * k) * MemoryLayout<Double>.stride
    }

    /// Bytes of the statistics and the discriminant at their full size for K classes in D
    /// dimensions (counted from creation, before they are filled).
    static func memoryBytes(classes k: Int, dimension d: Int) -> Int {
        let statistics = (2 * k + k * d + d * d) * MemoryLayout<Double>.stride
        let derived = (d * d + k * d + k) * MemoryLayout<Float>.stride
        return statistics + derived
    }
}

extension ClassGaussians: Equatable {
    /// The statistics alone: the discriminant is a function of them.
    public static func == (a: Self, b: Self) -> Bool {
        a.evidence == b.evidence && a.sums == b.sums && a.scatter == b.scatter && a.classPrior == b.classPrior && a.images == b.images
    }
}
