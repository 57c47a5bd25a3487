import Foundation
import RadaNumerics

/// TDA's hyper-parameters (Karmanov et al., "Efficient Test-Time Adaptation of Vision-Language
/// Models", CVPR 2024). Defaults are the paper's ImageNet configuration.
public struct TDAHyperparameters: Codable, Sendable, Equatable {
    /// Entries per class in the positive cache.
    public var positiveShot = 3
    /// Weight α of the positive cache logits.
    public var positiveAlpha: Float = 2.0
    /// Sharpness β of the positive affinity exp(−β(1 − cos)).
    public var positiveBeta: Float = 5.0
    /// Entries per class in the negative cache.
    public var negativeShot = 2
    public var negativeAlpha: Float = 0.117
    public var negativeBeta: Float = 1.0
    /// A sample enters the negative cache when its normalised entropy H/ln K lies strictly inside
    /// this band: uncertain, but not hopelessly so.
    public var negativeEntropyBand: ClosedRange<Float> = 0.2...0.5
    /// Classes whose probability lies strictly inside this band form a negative entry's mask.
    public var negativeMaskBand: ClosedRange<Float> = 0.03...1.0

    public init() {}

    public func validate() throws(MethodError) {
        guard positiveShot >= 0, negativeShot >= 0 else { throw .invalidHyperparameter("TDA cache shots must be ≥ 0") }
        guard [positiveAlpha, positiveBeta, negativeAlpha, negativeBeta].allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw .invalidHyperparameter("TDA α and β must be finite and ≥ 0")
        }
    }
}

/// TDA, the training-free dynamic adapter, written from the paper's description:
///
/// For each test image (one at a time, in stream order; a batch is processed image by image),
/// with CLIP logits z = s·f·tᵀ, probabilities p = softmax(z), pseudo-label ŷ = argmax p and
/// normalised entropy h = H(p)/ln K:
/// 1. positive cache: class ŷ keeps up to `positiveShot` (feature, h) entries; a new one is added
///    while there is room, else it replaces the class's highest-entropy entry if h is lower.
/// 2. negative cache: if h is inside `negativeEntropyBand`, the same per-class rule with
///    `negativeShot`, the entry carrying the mask m_k = 1[p_k inside `negativeMaskBand`].
/// 3. logits = z + α⁺·A⁺·L⁺ − α⁻·A⁻·M⁻, where A = exp(−β(1 − f·keysᵀ)) over a cache's entries,
///    L⁺ the entries' one-hot pseudo-labels and M⁻ their masks.
/// The caches are updated with the image before its own logits are computed, as the paper's
/// algorithm does (the image carries no label, so nothing leaks).
///
/// On the negative pseudo-label: the paper writes it as −1[p < p_l] and the cache term with a
/// further minus sign; the authors' released configuration (mask band (0.03, 1.0), one minus
/// sign) instead penalises the classes the uncertain sample found plausible. This follows the
/// released behaviour, whose ImageNet numbers the paper reports. The released code also divides
/// the entropy in nats by log₂ K; here it is divided by ln K (h in [0, 1], as the paper states).
public struct TDAMethod: TTAMethod {
    public let name: String
    public let textEmbeddings: Matrix
    public let logitScale: Float
    public let hyperparameters: TDAHyperparameters

    struct Entry: Sendable, Equatable {
        var key: [Float]
        var entropy: Float
        /// One-hot class (positive) or the negative mask, length K.
        var value: [Float]
    }

    /// Per class, the cache's entries.
    private(set) var positive: [[Entry]]
    private(set) var negative: [[Entry]]

    public init(textEmbeddings: Matrix, logitScale: Float, hyperparameters: TDAHyperparameters = TDAHyperparameters(), name: String = "tda") throws {
        try hyperparameters.validate()
        self.name = name
        self.textEmbeddings = textEmbeddings
        self.logitScale = logitScale
        self.hyperparameters = hyperparameters
        positive = [[Entry]](repeating: [], count: textEmbeddings.rows)
        negative = positive
    }

    public var positiveEntries: Int { positive.reduce(0) { $0 + $1.count } }
    public var negativeEntries: Int { negative.reduce(0) { $0 + $1.count } }

    public mutating func reset() {
        positive = [[Entry]](repeating: [], count: textEmbeddings.rows)
        negative = positive
    }

    public mutating func process(features: Matrix, labels: [Int]) throws -> Matrix {
        var logits = try ZeroShotMethod.logits(features, textEmbeddings, logitScale)
        let classes = textEmbeddings.rows
        let dimension = features.cols
        let h = hyperparameters
        for b in 0..<features.rows {
            let feature = features.row(b)
            let zeroShot = Array(logits.storage[(b * classes)..<((b + 1) * classes)])
            let probabilities = Kernels.softmax(logits: zeroShot).map(Float.init)
            let entropy = Kernels.entropy(probabilities: probabilities) / Float(log(Double(max(classes, 2))))
            let predicted = Kernels.argmax(probabilities)
            var oneHot = [Float](repeating: 0, count: classes)
            oneHot[predicted] = 1
            Self.insert(Entry(key: feature, entropy: entropy, value: oneHot), into: &positive[predicted], shot: h.positiveShot)
            if entropy > h.negativeEntropyBand.lowerBound && entropy < h.negativeEntropyBand.upperBound {
                let mask = probabilities.map { $0 > h.negativeMaskBand.lowerBound && $0 < h.negativeMaskBand.upperBound ? Float(1) : 0 }
                Self.insert(Entry(key: feature, entropy: entropy, value: mask), into: &negative[predicted], shot: h.negativeShot)
            }
            var adjusted = zeroShot
            Self.accumulate(feature, positive, alpha: h.positiveAlpha, beta: h.positiveBeta, dimension: dimension, into: &adjusted)
            Self.accumulate(feature, negative, alpha: -h.negativeAlpha, beta: h.negativeBeta, dimension: dimension, into: &adjusted)
            logits.storage.replaceSubrange((b * classes)..<((b + 1) * classes), with: adjusted)
        }
        return logits
    }

    /// Adds while the class has room, else replaces its highest-entropy entry if the new one is
    /// more confident.
    static func insert(_ entry: Entry, into entries: inout [Entry], shot: Int) {
        guard shot > 0 else { return }
        if entries.count < shot {
            entries.append(entry)
            return
        }
        let worst = entries.indices.max { entries[$0].entropy < entries[$1].entropy }!
        if entry.entropy < entries[worst].entropy { entries[worst] = entry }
    }

    /// logits += α · Σ_entries exp(−β(1 − f·key)) · value.
    static func accumulate(_ feature: [Float], _ cache: [[Entry]], alpha: Float, beta: Float, dimension: Int, into logits: inout [Float]) {
        for entries in cache {
            for entry in entries {
                var dot: Float = 0
                for d in 0..<dimension { dot += feature[d] * entry.key[d] }
                let weight = alpha * Float(exp(Double(-beta * (1 - dot))))
                for k in logits.indices where entry.value[k] != 0 { logits[k] += weight * entry.value[k] }
            }
        }
    }
}
