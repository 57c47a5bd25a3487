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
/// 4. with soft labels y = softmax(z): Σ_k ← (c_k Σ_k + y_k (x − μ_k)(x − μ_k)ᵀ)/(c_k + y_k) (the
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

    private var means: [Double]
    private var covariances: [Double]
    private var counts: [Double]
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
        var logits = try ZeroShotMethod.logits(features, textEmbeddings, logitScale)
        let k = classes
        for b in 0..<features.rows {
            let x = features.storage[(b * dimension)..<((b + 1) * dimension)]
            let zeroShot = logits.storage[(b * k)..<((b + 1) * k)]
            detectShift(zeroShotLogits: zeroShot)
            let probabilities = Kernels.softmax(logits: zeroShot)
            let weight = min(hyperparameters.rho * counts.reduce(0, +) / Double(k), hyperparameters.eta)
            let g = scores(x)
            for c in 0..<k { logits.storage[b * k + c] += Float(weight * g[c]) }
            learn(x, softLabels: probabilities)
        }
        return logits
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

    /// Λ·μ_k and ½ μ_kᵀΛμ_k by a Cholesky factorisation of the shrunk shared covariance.
    mutating func refresh() {
        let (k, d) = (classes, dimension)
        let epsilon = hyperparameters.shrinkage
        var a = [Double](repeating: 0, count: d * d)
        let share = (1 - epsilon) / Double(k)
        for c in 0..<k { for i in 0..<(d * d) { a[i] += share * covariances[c * d * d + i] } }
        for i in 0..<d { a[i * d + i] += epsilon }
        Self.choleskyInPlace(&a, d)
        // Right-hand sides μ_k as the columns of a D×K block, solved in place.
        var w = [Double](repeating: 0, count: d * k)
        for c in 0..<k { for i in 0..<d { w[i * k + c] = means[c * d + i] } }
        Self.solveInPlace(cholesky: a, d, &w, columns: k)
        weights = w
        offsets = (0..<k).map { c in 0.5 * (0..<d).reduce(0) { $0 + means[c * d + $1] * w[$1 * k + c] } }
    }

    /// A = L·Lᵀ for a symmetric positive definite d×d matrix; L replaces A's lower triangle.
    static func choleskyInPlace(_ a: inout [Double], _ d: Int) {
        for j in 0..<d {
            var diagonal = a[j * d + j]
            for p in 0..<j { diagonal -= a[j * d + p] * a[j * d + p] }
            // The shrinkage keeps A positive definite (its eigenvalues are at least ε).
            let root = diagonal.squareRoot()
            a[j * d + j] = root
            for i in (j + 1)..<max(j + 1, d) {
                var value = a[i * d + j]
                for p in 0..<j { value -= a[i * d + p] * a[j * d + p] }
                a[i * d + j] = value / root
            }
        }
    }

    /// Solves L·Lᵀ·X = B for X in place, B d×columns row-major.
    static func solveInPlace(cholesky l: [Double], _ d: Int, _ b: inout [Double], columns: Int) {
        for i in 0..<d {
            for p in 0..<i {
                let factor = l[i * d + p]
                for c in 0..<columns { b[i * columns + c] -= factor * b[p * columns + c] }
            }
            for c in 0..<columns { b[i * columns + c] /= l[i * d + i] }
        }
        for i in stride(from: d - 1, through: 0, by: -1) {
            for p in (i + 1)..<max(i + 1, d) {
                let factor = l[p * d + i]
                for c in 0..<columns { b[i * columns + c] -= factor * b[p * columns + c] }
            }
            for c in 0..<columns { b[i * columns + c] /= l[i * d + i] }
        }
    }
}
