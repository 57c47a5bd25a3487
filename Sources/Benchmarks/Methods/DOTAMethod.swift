import Foundation
import RadaNumerics

/// DOTA's hyper-parameters (Han et al., "DOTA: Distributional Test-Time Adaptation of
/// Vision-Language Models", arXiv 2409.19375). Defaults chosen on this project's validation
/// streams (Docs/benchmarks.md, "DOTA").
public struct DOTAHyperparameters: Codable, Sendable, Equatable {
    /// Initial variance of every class's Gaussian, as a multiple of 1/D (the per-dimension
    /// variance of a random unit vector).
    public var initialVariance: Double = 1
    /// Shrinkage ε of the shared covariance towards the identity before it is inverted.
    public var shrinkage: Double = 1e-3
    /// Fusion weight per unit of evidence: the Gaussian scores are added with weight
    /// min(ρ · mean class count, η), so they count for little until the stream has been seen.
    public var rho: Double = 0.05
    /// Largest fusion weight η.
    public var eta: Double = 3
    /// Forgetting factor γ of the evidence (1: none, the paper's DOTA). Before each image is
    /// learnt, every class's evidence beyond its prior count decays, c_k ← 1 + γ·(c_k − 1), so a
    /// class's effective sample count is at most 1 + 1/(1 − γ) and what the model learnt from an
    /// earlier shift fades within a few 1/(1 − γ) images (issue 15: in a continual stream the
    /// undecayed Gaussians, fed every corruption, swamp the current one).
    public var forgetting: Double = 1
    /// Forgetting in proportion to each class's evidence: c_k ← 1 + γ^{y_k}·(c_k − 1), so a class
    /// forgets only as it receives new images (each class's count still stays below about
    /// 1 + 1/(1 − γ)) and a class absent from a run of other classes keeps its statistics: a
    /// change of the class mix is not forgotten like a change of the domain.
    public var forgettingPerEvidence = false
    /// Shift reset threshold θ on the zero-shot entropy (0: off). The stream's mean normalised
    /// zero-shot entropy H/log K is tracked by a fast and a slow running mean (momenta
    /// 1 − 1/`shiftFastWindow` and 1 − 1/`shiftSlowWindow`, plain means until they have seen
    /// their window); when they differ by more than θ, at least `shiftSlowWindow` images after
    /// the last reset, the Gaussians return to their initial state and both means restart: the
    /// stream has moved to another distribution.
    public var shiftReset: Double = 0
    public var shiftFastWindow: Double = 64
    public var shiftSlowWindow: Double = 512
    /// Pseudo-labels from the fused prediction instead of zero-shot CLIP's (issue 15, eighteenth
    /// round): the logits the Gaussian scores are added to (zero-shot alone; the mask's logits in
    /// a fusion with rada) plus the image's own Gaussian adjustment, as predicted. Off: the
    /// paper's soft labels softmax(z).
    public var fusedLabels = false
    /// Confident learning E (0: off). An image is learnt only when its pseudo-label distribution's
    /// entropy is below E·log K, and then with a hard label (its arg max, weight 1): a run of one
    /// class no longer feeds its confusable neighbours' Gaussians with the soft labels' tails,
    /// the loss the bounded fusions showed on label shift.
    public var confidentEntropy: Double = 0
    /// Class-prior balancing: each class's evidence y_k is multiplied by min(1, 1/(K·π_k)), π the
    /// stream's running mean pseudo-label (a plain mean of the images seen, then an exponential
    /// one with a memory of `priorWindow` images): a class the stream over-represents (a
    /// label-shift run) learns at the rate of a class seen a K-th of the time.
    public var priorBalance = false
    public var priorWindow: Double = 256
    /// Coverage power P (0: off): the fusion weight is multiplied by (H(q̄)/log K)^P, q̄ the
    /// batch's mean zero-shot prediction, as rada's label-shift detector weighs its diversity
    /// term: a batch that is a run of one or two classes barely uses the Gaussians.
    public var coveragePower: Double = 0

    public init() {}

    public func validate() throws(MethodError) {
        guard initialVariance.isFinite, initialVariance > 0 else { throw .invalidHyperparameter("DOTA initial variance must be > 0") }
        guard shrinkage.isFinite, shrinkage > 0, shrinkage < 1 else { throw .invalidHyperparameter("DOTA shrinkage must be in (0, 1)") }
        guard rho.isFinite, rho >= 0, eta.isFinite, eta >= 0 else { throw .invalidHyperparameter("DOTA ρ and η must be finite and ≥ 0") }
        guard forgetting.isFinite, forgetting > 0, forgetting <= 1 else { throw .invalidHyperparameter("DOTA forgetting γ must be in (0, 1]") }
        guard shiftReset.isFinite, shiftReset >= 0 else { throw .invalidHyperparameter("DOTA shift reset threshold must be finite and ≥ 0") }
        guard shiftFastWindow.isFinite, shiftFastWindow >= 1, shiftSlowWindow.isFinite, shiftSlowWindow >= shiftFastWindow else {
            throw .invalidHyperparameter("DOTA shift windows must satisfy 1 ≤ fast ≤ slow")
        }
        guard confidentEntropy.isFinite, confidentEntropy >= 0, confidentEntropy <= 1 else { throw .invalidHyperparameter("DOTA confident-learning entropy E must be in [0, 1]") }
        guard priorWindow.isFinite, priorWindow >= 1 else { throw .invalidHyperparameter("DOTA prior window must be ≥ 1 image") }
        guard coveragePower.isFinite, coveragePower >= 0 else { throw .invalidHyperparameter("DOTA coverage power must be finite and ≥ 0") }
    }
}

/// DOTA, an online Gaussian model of each class's image embeddings fused with zero-shot CLIP,
/// written from the paper's algorithm (final embeddings only, no augmentation):
///
/// Each class k has a mean μ_k (initialised to its class embedding), a covariance Σ_k
/// (initialised to σ·I) and an evidence count c_k (initialised to 1). For each test image x, in
/// stream order (a batch is processed image by image, each image predicted before the model
/// learns from it):
/// 1. scores g_k = xᵀΛμ_k − ½ μ_kᵀΛμ_k with Λ = ((1 − ε)·mean_k Σ_k + ε·I)⁻¹ (linear
///    discriminant analysis with a shared, shrunk covariance);
/// 2. logits = z + min(ρ·mean_k c_k, η)·g, with z the zero-shot logits;
/// 3. evidence decays, c_k ← 1 + γ·(c_k − 1), or c_k ← 1 + γ^{y_k}·(c_k − 1) when forgetting is
///    per evidence (γ = 1: the paper's DOTA, nothing forgotten);
/// 4. with soft labels y = softmax(z) (or, by the options, the fused prediction's, hard and
///    confident only, balanced by the running class prior): Σ_k ← (c_k Σ_k + y_k (x − μ_k)(x − μ_k)ᵀ)/(c_k + y_k) (the
///    old μ_k), μ_k ← (c_k μ_k + y_k x)/(c_k + y_k), c_k ← c_k + y_k; then Λ is recomputed.
/// Optionally (θ > 0) a jump of the zero-shot entropy between a fast and a slow running mean
/// returns the Gaussians to their initial state before the image is scored (a detected shift).
/// The state is K·D² values (Σ_k per class), fine for benchmark class sets (K = 10, D ≤ 512:
/// 10 MiB), not for ImageNet's 1000 classes at D = 512 (1 GiB).
public struct DOTAMethod: TTAMethod {
    public let name: String
    public let textEmbeddings: Matrix
    public let logitScale: Float
    public let hyperparameters: DOTAHyperparameters

    private(set) var means: [Double]
    private var covariances: [Double]
    private(set) var counts: [Double]
    /// Λ·μ_k as columns (D×K) and ½ μ_kᵀΛμ_k, refreshed after every update.
    private var weights: [Double]
    private var offsets: [Double]
    /// Fast and slow running means of the normalised zero-shot entropy (nil before the first
    /// image) and the images they have seen since their (re)start; only used with a shift reset.
    private(set) var entropyFast: Double?
    private(set) var entropySlow: Double?
    private(set) var entropyImages = 0
    /// Shift resets so far (reports and tests).
    public private(set) var shiftResets = 0
    /// The running mean pseudo-label π (empty until the first image; prior balancing only) and
    /// the images it has seen.
    private(set) var classPrior: [Double] = []
    private(set) var priorImages = 0
    /// Images learnt from (confident learning skips the others; a skipped image neither adds
    /// evidence nor decays it).
    public private(set) var learntImages = 0

    public init(textEmbeddings: Matrix, logitScale: Float, hyperparameters: DOTAHyperparameters = DOTAHyperparameters(), name: String = "dota") throws {
        try hyperparameters.validate()
        self.name = name
        self.textEmbeddings = textEmbeddings
        self.logitScale = logitScale
        self.hyperparameters = hyperparameters
        (means, covariances, counts, weights, offsets) = ([], [], [], [], [])
        reset()
    }

    var classes: Int { textEmbeddings.rows }
    var dimension: Int { textEmbeddings.cols }

    public mutating func reset() {
        resetGaussians()
        (entropyFast, entropySlow, entropyImages, shiftResets) = (nil, nil, 0, 0)
        (classPrior, priorImages, learntImages) = ([], 0, 0)
    }

    mutating func resetGaussians() {
        let (k, d) = (classes, dimension)
        means = textEmbeddings.storage.map(Double.init)
        covariances = [Double](repeating: 0, count: k * d * d)
        let variance = hyperparameters.initialVariance / Double(d)
        for c in 0..<k { for i in 0..<d { covariances[(c * d + i) * d + i] = variance } }
        counts = [Double](repeating: 1, count: k)
        refresh()
    }

    /// Step 0: tracks the zero-shot entropy and resets the Gaussians on a jump. Each running
    /// mean is a plain mean of the images since its (re)start until it has seen its window, so
    /// neither depends on one first image; after a reset both restart from the new distribution.
    mutating func detectShift(zeroShotLogits logits: ArraySlice<Float>) {
        guard hyperparameters.shiftReset > 0 else { return }
        let h = Kernels.entropy(logits: logits) / Foundation.log(Double(classes))
        entropyImages += 1
        let n = Double(entropyImages)
        let fast = 1 / min(hyperparameters.shiftFastWindow, n), slow = 1 / min(hyperparameters.shiftSlowWindow, n)
        let newFast = (1 - fast) * (entropyFast ?? 0) + fast * h
        let newSlow = (1 - slow) * (entropySlow ?? 0) + slow * h
        (entropyFast, entropySlow) = (newFast, newSlow)
        if abs(newFast - newSlow) > hyperparameters.shiftReset, n >= hyperparameters.shiftSlowWindow {
            resetGaussians()
            (entropyFast, entropySlow, entropyImages) = (nil, nil, 0)
            shiftResets += 1
        }
    }

    /// The current Gaussian scores g (length K) of one embedding.
    func scores(_ x: ArraySlice<Float>) -> [Double] {
        let (k, d) = (classes, dimension)
        var g = offsets.map { -$0 }
        for i in 0..<d {
            let xi = Double(x[x.startIndex + i])
            for c in 0..<k { g[c] += xi * weights[i * k + c] }
        }
        return g
    }

    public mutating func process(features: Matrix, labels: [Int]) throws -> Matrix {
        try process(features: features, base: nil)
    }

    /// DOTA's logits z + w·g for a batch (z zero-shot CLIP on `features`), each image predicted
    /// before it is learnt. `base` (B×K): the logits DOTA's adjustment is added to in a fusion
    /// (rada's); with `fusedLabels` the pseudo-labels come from base + w·g (nil: z + w·g).
    /// `fusionScale` multiplies w for the whole batch (a fusion's gate; learning is unchanged).
    public mutating func process(features: Matrix, base: Matrix?, fusionScale: Double = 1) throws -> Matrix {
        var logits = try ZeroShotMethod.logits(features, textEmbeddings, logitScale)
        let k = classes
        if let base { guard base.rows == features.rows, base.cols == k else { throw MethodError.shape("base logits are \(base.rows)×\(base.cols), need \(features.rows)×\(k)") } }
        var coverage = fusionScale
        if hyperparameters.coveragePower > 0, k > 1 {
            // The batch's mean zero-shot prediction, before any image of it is scored.
            var mean = [Double](repeating: 0, count: k)
            for b in 0..<features.rows {
                let p = Kernels.softmax(logits: logits.storage[(b * k)..<((b + 1) * k)])
                for c in 0..<k { mean[c] += p[c] / Double(features.rows) }
            }
            let h = -mean.reduce(0) { $1 > 0 ? $0 + $1 * Foundation.log($1) : $0 }
            coverage *= Foundation.pow(h / Foundation.log(Double(k)), hyperparameters.coveragePower)
        }
        for b in 0..<features.rows {
            let x = features.storage[(b * dimension)..<((b + 1) * dimension)]
            let zeroShot = Array(logits.storage[(b * k)..<((b + 1) * k)])
            detectShift(zeroShotLogits: zeroShot[...])
            let weight = min(hyperparameters.rho * counts.reduce(0, +) / Double(k), hyperparameters.eta) * coverage
            let g = scores(x)
            for c in 0..<k { logits.storage[b * k + c] += Float(weight * g[c]) }
            var labelLogits = zeroShot
            if hyperparameters.fusedLabels {
                // The same adjustment the fusion adds, on the logits it is added to.
                for c in 0..<k {
                    let adjustment = logits.storage[b * k + c] - zeroShot[c]
                    labelLogits[c] = (base?.storage[b * k + c] ?? zeroShot[c]) + adjustment
                }
            }
            if let y = pseudoLabels(logits: labelLogits) { learn(x, softLabels: y) }
        }
        return logits
    }

    /// Step 4's labels: softmax of `logits`, then (by the options) the running prior updated,
    /// a confident hard label or nothing, and the prior's balancing weights.
    mutating func pseudoLabels(logits: [Float]) -> [Double]? {
        let k = classes
        var y = Kernels.softmax(logits: logits)
        if hyperparameters.priorBalance {
            priorImages += 1
            let rate = 1 / min(hyperparameters.priorWindow, Double(priorImages))
            if classPrior.isEmpty { classPrior = [Double](repeating: 0, count: k) }
            for c in 0..<k { classPrior[c] = (1 - rate) * classPrior[c] + rate * y[c] }
        }
        if hyperparameters.confidentEntropy > 0 {
            guard Kernels.entropy(logits: logits) < hyperparameters.confidentEntropy * Foundation.log(Double(k)) else { return nil }
            let top = Kernels.argmax(y)
            y = (0..<k).map { $0 == top ? 1 : 0 }
        }
        if hyperparameters.priorBalance {
            for c in 0..<k where y[c] > 0 { y[c] *= min(1, 1 / (Double(k) * classPrior[c])) }
        }
        learntImages += 1
        return y
    }

    /// Step 3: the soft-labelled update of every class, then Λ.
    mutating func learn(_ x: ArraySlice<Float>, softLabels y: [Double]) {
        let d = dimension
        let point = x.map(Double.init)
        var delta = [Double](repeating: 0, count: d)
        let gamma = hyperparameters.forgetting
        if gamma < 1 {
            for c in 0..<classes {
                counts[c] = 1 + (hyperparameters.forgettingPerEvidence ? Foundation.pow(gamma, y[c]) : gamma) * (counts[c] - 1)
            }
        }
        for c in 0..<classes where y[c] > 0 {
            let total = counts[c] + y[c]
            for i in 0..<d { delta[i] = point[i] - means[c * d + i] }
            let keep = counts[c] / total, add = y[c] / total
            covariances.withUnsafeMutableBufferPointer { cov in
                let base = cov.baseAddress! + c * d * d
                for i in 0..<d {
                    let scaled = add * delta[i]
                    let row = base + i * d
                    for j in 0..<d { row[j] = keep * row[j] + scaled * delta[j] }
                }
            }
            for i in 0..<d { means[c * d + i] = (counts[c] * means[c * d + i] + y[c] * point[i]) / total }
            counts[c] = total
        }
        refresh()
    }

    /// Λ·μ_k and ½ μ_kᵀΛμ_k through the Cholesky factor's inverse V = L⁻¹ of the shrunk shared
    /// covariance (Λ = Vᵀ·V). The shrinkage keeps it positive definite; were it not (NaN in the
    /// statistics), the Gaussian scores are zero rather than NaN.
    mutating func refresh() {
        let (k, d) = (classes, dimension)
        let epsilon = hyperparameters.shrinkage
        var a = [Double](repeating: 0, count: d * d)
        let share = (1 - epsilon) / Double(k)
        for c in 0..<k { for i in 0..<(d * d) { a[i] += share * covariances[c * d * d + i] } }
        for i in 0..<d { a[i * d + i] += epsilon }
        guard let factor = Cholesky.factorWithInverse(a, dimension: d) else {
            (weights, offsets) = ([Double](repeating: 0, count: d * k), [Double](repeating: 0, count: k))
            return
        }
        // W = Vᵀ·(V·Mᵀ): μ_k as the columns of a D×K block.
        var z = [Double](repeating: 0, count: d * k), w = [Double](repeating: 0, count: d * k)
        factor.inverse.withUnsafeBufferPointer { v in
            means.withUnsafeBufferPointer { m in
                z.withUnsafeMutableBufferPointer { z in
                    BLAS.dgemm(transB: true, m: d, n: k, k: d, a: v.baseAddress!, lda: d, b: m.baseAddress!, ldb: d, c: z.baseAddress!, ldc: k)
                    w.withUnsafeMutableBufferPointer { w in
                        BLAS.dgemm(transA: true, m: d, n: k, k: d, a: v.baseAddress!, lda: d, b: z.baseAddress!, ldb: k, c: w.baseAddress!, ldc: k)
                    }
                }
            }
        }
        weights = w
        offsets = (0..<k).map { c in 0.5 * (0..<d).reduce(0) { $0 + means[c * d + $1] * w[$1 * k + c] } }
    }
}
