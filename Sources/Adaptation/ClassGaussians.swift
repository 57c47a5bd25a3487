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
    /// Σ_k t_k t_kᵀ of the stream's class embeddings (D×D, lower triangle; derived, never stored,
    /// not part of `==`), kept once computed: the text never changes, and recomputing it was a
    /// third of every discriminant's work at K = 1000.
    private var textGram: [Double]?

    struct Discriminant: Sendable {
        /// The Cholesky factor L of the shrunk covariance (D×D, lower triangle) and p_k = μ_k·L⁻ᵀ
        /// (K×D), Float32, with ½|p_k|² (K): g = (x·L⁻ᵀ)·pᵀ − offsets, x·L⁻ᵀ by a triangular solve.
        var lower: [Float]
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
        refresh(text: text, settings: settings)
        return Self.adjustment(x, batch: batch, discriminant: discriminant!, settings: settings, gate: gate)
    }

    /// Forms the discriminant now if the statistics have changed since it was formed: the
    /// stream calls this right after `learn`, once its answer is out, so that the next request
    /// finds it ready (Docs/rada.md, "Class Gaussians").
    mutating func refresh(text: Matrix, settings: GaussianFusion) {
        guard discriminant == nil else { return }
        if textGram == nil && !isEmpty { textGram = Self.gram(text) }
        discriminant = Self.discriminant(self, text: text, settings: settings)
    }

    /// Whether the discriminant of the current statistics is formed (for the tests).
    var isRefreshed: Bool { discriminant != nil }

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
        var whitened = x
        var scores = [Float](repeating: 0, count: batch * k)
        d.lower.withUnsafeBufferPointer { l in
            whitened.withUnsafeMutableBufferPointer { o in
                BLAS.strsmRightLowerTransposed(m: batch, n: dim, l: l.baseAddress!, ldl: dim, b: o.baseAddress!, ldb: dim)
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

    /// Σ_k t_k t_kᵀ (D×D, lower triangle) of the class embeddings `text` (K×D).
    static func gram(_ text: Matrix) -> [Double] {
        let (k, dim) = (text.rows, text.cols)
        let t = text.storage.map(Double.init)
        var g = [Double](repeating: 0, count: dim * dim)
        t.withUnsafeBufferPointer { t in
            g.withUnsafeMutableBufferPointer { g in
                BLAS.dsyrk(transA: true, n: dim, k: k, a: t.baseAddress!, lda: dim, c: g.baseAddress!, ldc: dim)
            }
        }
        return g
    }

    /// The discriminant of the current statistics (module-internal for the tests). Only lower
    /// triangles are formed (symmetric updates), and L is solved against rather than inverted:
    /// a third of the work of forming L⁻¹ and multiplying by it (about 9 ms of every 1-image
    /// request at D = 512 on a Zen 3 core).
    static func discriminant(_ state: ClassGaussians, text: Matrix, settings: GaussianFusion) -> Discriminant {
        let (k, dim) = (text.rows, text.cols)
        var counts = [Double](repeating: 1, count: k)
        var means = text.storage.map(Double.init)
        // W = T + Σ t tᵀ + K·σ/D·I − Σ c μ μᵀ, the last as the Gram of the rows √c_k·μ_k. Before
        // the first image every c_k = 1 and μ_k = t_k, so W = K·σ/D·I exactly.
        var w = [Double](repeating: 0, count: dim * dim)
        if !state.isEmpty {
            let gram = state.textGram ?? Self.gram(text)
            for c in 0..<k {
                counts[c] = 1 + state.evidence[c]
                for i in 0..<dim { means[c * dim + i] = (means[c * dim + i] + state.sums[c * dim + i]) / counts[c] }
            }
            for i in 0..<(dim * dim) { w[i] = state.scatter[i] + gram[i] }
            var rows = means
            for c in 0..<k { let r = counts[c].squareRoot(); for i in 0..<dim { rows[c * dim + i] *= r } }
            rows.withUnsafeBufferPointer { u in
                w.withUnsafeMutableBufferPointer { w in
                    BLAS.dsyrk(transA: true, n: dim, k: k, alpha: -1, a: u.baseAddress!, lda: dim, beta: 1, c: w.baseAddress!, ldc: dim)
                }
            }
        }
        let total = counts.reduce(0, +)
        // A = (1 − ε)·W/Σc + ε·I and its factor L (lower triangles only).
        let epsilon = settings.shrinkage, prior = Double(k) * settings.initialVariance / Double(dim)
        for i in 0..<(dim * dim) { w[i] *= (1 - epsilon) / total }
        for i in 0..<dim { w[i * dim + i] += (1 - epsilon) * prior / total + epsilon }
        let meanCount = total / Double(k)
        guard let lower = Cholesky.factor(w, dimension: dim) else {
            return Discriminant(lower: [], means: [], offsets: [], dimension: dim, meanCount: meanCount, usable: false)
        }
        // p = μ·L⁻ᵀ (K×D): the solve p·Lᵀ = μ.
        var p = means
        lower.withUnsafeBufferPointer { l in
            p.withUnsafeMutableBufferPointer { p in
                BLAS.dtrsmRightLowerTransposed(m: k, n: dim, l: l.baseAddress!, ldl: dim, b: p.baseAddress!, ldb: dim)
            }
        }
        var offsets = [Float](repeating: 0, count: k)
        for c in 0..<k {
            var norm = 0.0
            for i in 0..<dim { norm += p[c * dim + i] * p[c * dim + i] }
            offsets[c] = Float(0.5 * norm)
        }
        let lowerFloat = lower.map(Float.init)
        let usable = p.allSatisfy(\.isFinite) && offsets.allSatisfy(\.isFinite) && lowerFloat.allSatisfy(\.isFinite)
        return Discriminant(lower: lowerFloat, means: p.map(Float.init), offsets: offsets, dimension: dim, meanCount: meanCount, usable: usable)
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
        images = Swift.min(images + Double(batch), Double(CheckpointBounds.counterLimit - 1))
        discriminant = nil
    }

    /// Forgets the derived discriminant (settings that shape it have changed).
    mutating func invalidate() { discriminant = nil }

    /// Floating-point operations of one request of `batch` images: the discriminant (the
    /// symmetric update of the K class rows and the solve for p, KD² each; the factor, D³/3), the
    /// scores (the solve, BD², and 2BKD) and learning (2BKD + 2BD²). The text's Gram (KD², once
    /// per stream) is not counted.
    public static func flops(batch: Int, classes: Int, dimension: Int) -> Double {
        let (b, k, d) = (Double(batch), Double(classes), Double(dimension))
        // D³/3 rounded to a whole count, so that sums of these counts stay exact.
        return 2 * k * d * d + (d * d * d / 3).rounded(.down) + 3 * b * d * d + 4 * b * k * d
    }

    /// Peak scratch bytes of computing the discriminant or learning a batch: the class means,
    /// their scaled rows, the whitened means and the text embeddings in Float64 (4·K·D), the
    /// covariance, its factor and the text's Gram when it is not kept (3·D²), the batch in
    /// Float64 twice and its labels.
    static func workspaceBytes(batch: Int, classes k: Int, dimension d: Int) -> Int {
        (4 * k * d + 3 * d * d + 2 * batch * d + batch * k) * MemoryLayout<Double>.stride
    }

    /// Bytes of the statistics, the discriminant and the text's Gram at their full size for K
    /// classes in D dimensions (counted from creation, before they are filled).
    static func memoryBytes(classes k: Int, dimension d: Int) -> Int {
        let statistics = (2 * k + k * d + d * d) * MemoryLayout<Double>.stride
        let derived = (d * d + k * d + k) * MemoryLayout<Float>.stride + d * d * MemoryLayout<Double>.stride
        return statistics + derived
    }
}

extension ClassGaussians: Equatable {
    /// The statistics alone: the discriminant is a function of them.
    public static func == (a: Self, b: Self) -> Bool {
        a.evidence == b.evidence && a.sums == b.sums && a.scatter == b.scatter && a.classPrior == b.classPrior && a.images == b.images
    }
}
