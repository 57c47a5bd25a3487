import Foundation

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
/// and subtracting it would take evidence away from them) is left alone.
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

    public init(weight: Double = 0, memoryImages: Double = 1000, entropyThreshold: Double = 0, entropyRamp: Double = 0) {
        self.weight = weight
        self.memoryImages = memoryImages
        self.entropyThreshold = entropyThreshold
        self.entropyRamp = entropyRamp
    }

    public var isOn: Bool { weight > 0 }

    /// g for a running zero-shot entropy ū (fraction of log K).
    func gate(entropy u: Double) -> Double {
        if u <= entropyThreshold { return 0 }
        if entropyRamp <= 0 { return 1 }
        return min(1, (u - entropyThreshold) / entropyRamp)
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

    init(dimension: Int) {
        mean = [Float](repeating: 0, count: dimension)
        entropy = 0
        weight = 0
    }

    init(mean: [Float], entropy: Double, weight: Double) {
        self.mean = mean
        self.entropy = entropy
        self.weight = weight
    }

    public var isEmpty: Bool { weight == 0 }

    /// g·a: the share of the mean subtracted now.
    public func share(_ settings: EmbeddingCentring) -> Float {
        guard settings.isOn, !isEmpty else { return 0 }
        return Float(settings.weight * settings.gate(entropy: entropy))
    }

    /// `features` (B×D, row-major) with g·a·m subtracted from each row and the row rescaled to
    /// its length before; the very same values while the share is 0 (centring off, no image seen
    /// yet, or the gate shut), so a fresh stream stays exactly zero-shot. A row the subtraction
    /// would empty keeps its raw value rather than become NaN.
    func centred(_ features: [Float], batch: Int, settings: EmbeddingCentring) -> [Float] {
        let a = share(settings)
        guard a > 0 else { return features }
        let d = mean.count
        var out = features
        for b in 0..<batch {
            let row = (b * d)..<((b + 1) * d)
            var before: Float = 0, after: Float = 0
            for i in row {
                let x = features[i], y = x - a * mean[i - row.lowerBound]
                out[i] = y
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
    }
}
