import Foundation
import RadaNumerics

/// Embedding centring: before the mask sees an image embedding f, the stream subtracts a share
/// of the running mean m of the image embeddings it has adapted on and renormalises,
/// f' = (f − g·a·m) · ‖f‖ / ‖f − g·a·m‖. A corruption moves every embedding of a domain the same
/// way; m carries that common shift, and its dot product with each class embedding is the class
/// bias the shift adds to the logits. Subtracting it is the test-time distribution normalisation
/// of contrastive vision–language models, taken online.
///
/// g is the *uncertainty gate*: ū, the running mean of zero-shot CLIP's normalised entropy
/// H(p)/log K on the same raw images, turns centring on as it rises from `entropyThreshold` to
/// `entropyThreshold + entropyRamp`, g = clamp((ū − u₀)/w, 0, 1). A domain zero-shot already
/// reads confidently (clean images, or a run of a few classes, where m is the classes' own mean
/// and subtracting it would take evidence away from them) is left alone. With
/// `batchGateMinimum` on, a batch of that many images or more is also gated by its own mean
/// zero-shot entropy ū_b, g = min(g(ū), clamp((ū_b − u_b)/w, 0, 1)): the running mean lags a
/// change of domain by a few hundred images, and a confident domain's first batches after an
/// unsure one would otherwise be centred by the old domain's mean.
public struct EmbeddingCentring: Codable, Sendable, Equatable {
    /// a: the share of the running mean subtracted (0: off, the stream sees raw embeddings).
    public var weight: Double = 0
    /// M: the running means' memory in images. A batch of B images multiplies the weight of
    /// everything before it by exp(−B/M), so the means follow a new domain within about M images
    /// at every batch size.
    public var memoryImages: Double = 1000
    /// u₀: the running zero-shot entropy (a fraction of log K) below which nothing is centred.
    public var entropyThreshold: Double = 0
    /// w: the rise of the running zero-shot entropy above u₀ over which the gate opens fully
    /// (0: a step at u₀).
    public var entropyRamp: Double = 0
    /// ρ: whitening of the centred embeddings by the running covariance Σ, shrunk towards the
    /// identity, W = ((1 − ρ)·I + ρ·D·Σ/tr Σ)^(−1/2) (0: off). A corruption stretches some
    /// directions of the embedding space more than others; W evens them out again.
    public var whitening: Double = 0
    /// R: W is recomputed after the running means have taken in this many images since it was
    /// last computed (sooner while the stream is young: after as many images as it was computed
    /// from, so 1, 2, 4, … images at batch 1).
    public var whiteningRefreshImages: Double = 256
    /// Batches of at least this many images are gated by their own mean zero-shot entropy as
    /// well as the running one, with the same w (0: off, the running gate alone).
    public var batchGateMinimum: Int = 0
    /// u_b: the batch gate's threshold (nil: u₀). Below u₀ it shuts only batches zero-shot reads
    /// clearly more confidently than the running threshold, so that a batch's own noise does not
    /// flicker the gate on a domain near u₀.
    public var batchEntropyThreshold: Double?

    public init(
        weight: Double = 0, memoryImages: Double = 1000, entropyThreshold: Double = 0, entropyRamp: Double = 0,
        whitening: Double = 0, whiteningRefreshImages: Double = 256, batchGateMinimum: Int = 0,
        batchEntropyThreshold: Double? = nil
    ) {
        self.weight = weight
        self.memoryImages = memoryImages
        self.entropyThreshold = entropyThreshold
        self.entropyRamp = entropyRamp
        self.whitening = whitening
        self.whiteningRefreshImages = whiteningRefreshImages
        self.batchGateMinimum = batchGateMinimum
        self.batchEntropyThreshold = batchEntropyThreshold
    }

    enum CodingKeys: String, CodingKey {
        case weight, memoryImages, entropyThreshold, entropyRamp, whitening, whiteningRefreshImages, batchGateMinimum, batchEntropyThreshold
    }

    /// `whitening` and its refresh, and the batch gate's fields, may be absent (hyper-parameters
    /// stored before they existed): they read as off (`batchEntropyThreshold` as nil, u₀).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weight = try c.decode(Double.self, forKey: .weight)
        memoryImages = try c.decode(Double.self, forKey: .memoryImages)
        entropyThreshold = try c.decode(Double.self, forKey: .entropyThreshold)
        entropyRamp = try c.decode(Double.self, forKey: .entropyRamp)
        // Absent reads as off; an explicit null is not a value (decodeIfPresent would take it as absent).
        whitening = c.contains(.whitening) ? try c.decode(Double.self, forKey: .whitening) : 0
        whiteningRefreshImages = c.contains(.whiteningRefreshImages) ? try c.decode(Double.self, forKey: .whiteningRefreshImages) : 256
        batchGateMinimum = c.contains(.batchGateMinimum) ? try c.decode(Int.self, forKey: .batchGateMinimum) : 0
        // Optional by nature: null, like absent, means u₀.
        batchEntropyThreshold = try c.decodeIfPresent(Double.self, forKey: .batchEntropyThreshold)
    }

    /// The whitening fields are written only while whitening is on, and `batchGateMinimum` only
    /// while on, so settings without them encode exactly as before they existed.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(weight, forKey: .weight)
        try c.encode(memoryImages, forKey: .memoryImages)
        try c.encode(entropyThreshold, forKey: .entropyThreshold)
        try c.encode(entropyRamp, forKey: .entropyRamp)
        if whitening > 0 {
            try c.encode(whitening, forKey: .whitening)
            try c.encode(whiteningRefreshImages, forKey: .whiteningRefreshImages)
        }
        if batchGateMinimum > 0 { try c.encode(batchGateMinimum, forKey: .batchGateMinimum) }
        if let batchEntropyThreshold { try c.encode(batchEntropyThreshold, forKey: .batchEntropyThreshold) }
    }

    public var isOn: Bool { weight > 0 }
    public var whitens: Bool { isOn && whitening > 0 }

    /// g for a running zero-shot entropy ū (fraction of log K).
    func gate(entropy u: Double) -> Double { Ramp.rising(u, threshold: entropyThreshold, width: entropyRamp) }

    /// g for a batch: the running gate of ū, shut further by the batch's own ū_b when the batch
    /// gate is on and the batch has `batchGateMinimum` images or more (`batchEntropy` is read
    /// only then).
    func gate(running u: Double, batch: Int, batchEntropy: () -> Double) -> Double {
        let g = gate(entropy: u)
        guard g > 0, isOn, batchGateMinimum > 0, batch >= batchGateMinimum else { return g }
        return min(g, Ramp.rising(batchEntropy(), threshold: batchEntropyThreshold ?? entropyThreshold, width: entropyRamp))
    }
}

/// The running means behind embedding centring (part of the stream's state: checkpointed,
/// cleared by a reset): the image embeddings' and zero-shot CLIP's normalised entropy on them,
/// both weighted alike. `weight` is the total weight of the images in them (0: empty).
public struct RunningEmbeddingMean: Sendable, Equatable {
    public internal(set) var mean: [Float]
    /// ū: the weighted mean of H(zero-shot p)/log K over the same images.
    public internal(set) var entropy: Double
    public internal(set) var weight: Double
    /// With whitening on: the running mean of f·fᵀ (D×D, row-major, same weights as `mean`);
    /// empty while whitening is off.
    public internal(set) var secondMoment: [Double]
    /// W (D×D, symmetric), last computed from `secondMoment` and `mean`; empty until the first
    /// batch has been added with whitening on.
    public internal(set) var whitener: [Float]
    /// Images added since W was computed, and the running means' weight when it was.
    public internal(set) var imagesSinceWhitener: Double
    public internal(set) var weightAtWhitener: Double

    init(dimension: Int) {
        mean = [Float](repeating: 0, count: dimension)
        entropy = 0
        weight = 0
        secondMoment = []
        whitener = []
        imagesSinceWhitener = 0
        weightAtWhitener = 0
    }

    init(
        mean: [Float], entropy: Double, weight: Double, secondMoment: [Double] = [], whitener: [Float] = [],
        imagesSinceWhitener: Double = 0, weightAtWhitener: Double = 0
    ) {
        self.mean = mean
        self.entropy = entropy
        self.weight = weight
        self.secondMoment = secondMoment
        self.whitener = whitener
        self.imagesSinceWhitener = imagesSinceWhitener
        self.weightAtWhitener = weightAtWhitener
    }

    public var isEmpty: Bool { weight == 0 }
    /// Whether the whitening's moments are held (whitening on and at least one batch added).
    public var hasWhitening: Bool { !secondMoment.isEmpty }

    /// Forgets the whitening's statistics (whitening turned off): it restarts from the next batch.
    mutating func dropWhitening() {
        secondMoment = []
        whitener = []
        imagesSinceWhitener = 0
        weightAtWhitener = 0
    }

    /// g·a: the share of the mean subtracted now, by the running gate (or by `gate`, a batch's).
    public func share(_ settings: EmbeddingCentring, gate: Double? = nil) -> Float {
        guard settings.isOn, !isEmpty else { return 0 }
        return Float(settings.weight * (gate ?? settings.gate(entropy: entropy)))
    }

    /// `features` (B×D, row-major) with g·a·m subtracted from each row and the row rescaled to
    /// its length before; the very same values while the share is 0 (centring off, no image seen
    /// yet, or the gate shut), so a fresh stream stays exactly zero-shot. A row the subtraction
    /// would empty keeps its raw value rather than become NaN.
    /// `gate`: the batch's g (`EmbeddingCentring.gate(running:batch:batchEntropy:)`); nil: the
    /// running gate's.
    func centred(_ features: [Float], batch: Int, settings: EmbeddingCentring, gate: Double? = nil) -> [Float] {
        let a = share(settings, gate: gate)
        guard a > 0 else { return features }
        let d = mean.count
        var out = features
        for b in 0..<batch {
            let row = (b * d)..<((b + 1) * d)
            for i in row { out[i] = features[i] - a * mean[i - row.lowerBound] }
        }
        // Whitening follows the same gate: g·(y·W) + (1 − g)·y, so it fades out with centring.
        let g = Float(gate ?? settings.gate(entropy: entropy))
        if settings.whitens, whitener.count == d * d, g > 0 {
            var whitened = [Float](repeating: 0, count: batch * d)
            out.withUnsafeBufferPointer { y in
                whitener.withUnsafeBufferPointer { w in
                    whitened.withUnsafeMutableBufferPointer { o in
                        BLAS.sgemm(m: batch, n: d, k: d, a: y.baseAddress!, lda: d, b: w.baseAddress!, ldb: d, c: o.baseAddress!, ldc: d)
                    }
                }
            }
            for i in 0..<(batch * d) { out[i] = g * whitened[i] + (1 - g) * out[i] }
        }
        for b in 0..<batch {
            let row = (b * d)..<((b + 1) * d)
            var before: Float = 0, after: Float = 0
            for i in row {
                let x = features[i], y = out[i]
                before += x * x
                after += y * y
            }
            guard after > 1e-12 * max(before, 1e-30) else {
                out.replaceSubrange(row, with: features[row])
                continue
            }
            let scale = (before / after).squareRoot()
            for i in row { out[i] *= scale }
        }
        return out
    }

    /// Adds a batch of raw embeddings and zero-shot CLIP's entropies on them (nats, one per
    /// image): the weight of what came before decays by exp(−B/M).
    mutating func add(_ features: [Float], entropies: [Float], classes: Int, settings: EmbeddingCentring) {
        let d = mean.count, batch = entropies.count
        let previous = mean
        let decayed = weight * Foundation.exp(-Double(batch) / settings.memoryImages)
        let total = decayed + Double(batch)
        let keep = Float(decayed / total), share = Float(1 / total)
        for i in 0..<d {
            var sum: Float = 0
            for b in 0..<batch { sum += features[b * d + i] }
            mean[i] = keep * mean[i] + share * sum
        }
        let logK = classes > 1 ? Foundation.log(Double(classes)) : 1
        let added = entropies.reduce(0.0) { $0 + Double($1) } / logK
        entropy = (decayed * entropy + added) / total
        weight = total
        guard settings.whitens else { return }
        if secondMoment.count != d * d {
            // Whitening turned on under a mean that already held images: what came before
            // counts as m·mᵀ (no spread), which keeps Σ = E[f·fᵀ] − m·mᵀ positive semi-definite.
            secondMoment = [Double](repeating: 0, count: d * d)
            for i in 0..<d { for j in 0..<d { secondMoment[i * d + j] = Double(previous[i]) * Double(previous[j]) } }
        }
        let raw = features.map(Double.init)
        // The decay of what came before is the product's beta: S ← (decayed/total)·S + XᵀX/total.
        raw.withUnsafeBufferPointer { x in
            secondMoment.withUnsafeMutableBufferPointer { s in
                BLAS.dgemm(transA: true, m: d, n: d, k: batch, alpha: 1 / total, a: x.baseAddress!, lda: d,
                           b: x.baseAddress!, ldb: d, beta: decayed / total, c: s.baseAddress!, ldc: d)
            }
        }
        Symmetric.average(&secondMoment, dimension: d)
        imagesSinceWhitener += Double(batch)
        if whitener.count != d * d || imagesSinceWhitener >= min(settings.whiteningRefreshImages, weightAtWhitener) {
            whitener = Self.whitener(secondMoment: secondMoment, mean: mean, shrinkage: settings.whitening)
            imagesSinceWhitener = 0
            weightAtWhitener = weight
        }
    }

    /// Floating-point operations of one refresh of W at dimension d, as a stream's covariance
    /// typically takes it: 8 rounds, 3·8 − 3 = 21 products of 2·d³ (Docs/rada.md, "Whitening").
    public static func whitenerRefreshFLOPs(dimension d: Int) -> Double {
        let d = Double(d)
        return 21 * 2 * d * d * d
    }

    /// ((1 − ρ)·I + ρ·D·Σ/tr Σ)^(−1/2) with Σ = E[f·fᵀ] − m·mᵀ (`Symmetric.inverseSquareRoot`:
    /// matrix products only, no eigensolver; the shrunk matrix's eigenvalues are at least 1 − ρ,
    /// which sets its scalings). The identity while Σ is empty (one image, or identical images:
    /// tr Σ at most 10⁻⁶ of tr E[f·fᵀ]), and where the iteration does not converge (moments that
    /// are no covariance, e.g. from a damaged checkpoint) rather than a matrix that could turn
    /// the embeddings into NaN.
    static func whitener(secondMoment: [Double], mean: [Float], shrinkage rho: Double) -> [Float] {
        let d = mean.count
        var a = [Double](repeating: 0, count: d * d)
        var trace = 0.0, raw = 0.0
        for i in 0..<d {
            for j in 0..<d { a[i * d + j] = secondMoment[i * d + j] - Double(mean[i]) * Double(mean[j]) }
            trace += a[i * d + i]
            raw += secondMoment[i * d + i]
        }
        var identity = [Float](repeating: 0, count: d * d)
        for i in 0..<d { identity[i * d + i] = 1 }
        // Σ is empty, or only rounding (identical images: S and m·mᵀ agree to Float's precision,
        // and what is left is noise that would be scaled up to a whole covariance).
        guard trace.isFinite, trace > 1e-12, trace > 1e-6 * raw else { return identity }
        for i in 0..<(d * d) { a[i] *= rho * Double(d) / trace }
        for i in 0..<d { a[i * d + i] += 1 - rho }
        guard let root = Symmetric.inverseSquareRoot(a, dimension: d, smallestEigenvalue: 1 - rho) else { return identity }
        return root.root.map(Float.init)
    }
}
