/// Where the diversity term takes its reference distribution from.
public enum DiversityMode: String, Codable, Sendable, Equatable {
    /// `−H(mean_b p_b)` over the batch (information maximisation).
    case batchMean
    /// `Σ_k p̄_k · log m_k` with `m` the stream's running mean prediction, held fixed (a detached
    /// anchor): pushes the batch away from classes the stream has predicted often. For batch size 1.
    case runningAnchor
    /// `batchMean` for batches of two or more, `runningAnchor` for single images.
    case automatic
    /// `KL(p̄ ‖ m) = Σ_k p̄_k (log p̄_k − log m_k)` for batches of two or more, with `m` the stream's
    /// running mean prediction held fixed as an estimate of the stream's class prior (ROID-style):
    /// the batch's histogram is pulled towards the classes the stream has been seeing, not towards
    /// uniform. Single images use `runningAnchor`, as `automatic` does. At the first batch `m` is
    /// uniform and the term equals `batchMean`'s plus log K.
    case estimatedPrior
}

/// The unlabelled test-time loss (all terms optional except entropy's weight, which may be 0).
public struct AdaptationObjective: Codable, Sendable, Equatable {
    /// Weight of the mean entropy of the kept samples.
    public var entropyWeight: Double
    /// Keep only samples with `H(p) < e0 · log K` (nil: keep all). A batch with none kept takes no step.
    public var confidenceThreshold: Double?
    /// λ of the diversity term (0: off).
    public var diversityWeight: Double
    public var diversityMode: DiversityMode
    /// μ of the zero-shot anchor `μ · KL(p̄ ‖ q̄)`: the batch's mean prediction p̄ kept near the
    /// zero-shot model's mean prediction q̄ on the same batch (0: off). Unlike `−H(p̄)` it does not
    /// push a batch of one class towards uniform predictions: if zero-shot sees a run of one class,
    /// so does the anchor.
    public var zeroShotAnchorWeight: Double
    /// P of the label-shift detector on the diversity term: its weight is
    /// `λ · (H(q̄)/log K)^P`, with q̄ the zero-shot model's mean prediction on the batch. A batch
    /// that zero-shot sees as covering every class (H(q̄) ≈ log K) keeps almost all of λ; a run of
    /// one or two classes (label shift) turns the push towards the target histogram nearly off.
    /// q̄ does not depend on the mask, so the factor is a constant of the step. 0: off (λ as given).
    public var diversityShiftPower: Double
    /// Q of the uncertainty gate on the diversity term: its weight is further multiplied by
    /// `ū^Q`, with ū the zero-shot model's mean per-sample entropy on the batch over log K. The
    /// term then acts where zero-shot is unsure (corruptions) and little where it is sure (clean
    /// images, confident runs of one class). A constant of the step, like the shift detector's
    /// factor. 0: off.
    public var diversityUncertaintyPower: Double
    /// R of the reliability weights on the entropy term: each kept sample's entropy counts
    /// `(1 − H(softmax(z0_b))/log K)^R` times, so samples the zero-shot model is unsure of pull
    /// the mask less (EATA/SAR's reliable-sample weighting, taken from the zero-shot logits so
    /// that the weights are constants of the step). 0: off (every kept sample counts once).
    public var entropyReliabilityPower: Double
    /// α of the L∞ mask regulariser `α · mean_b max |M − 1|` (0: off).
    public var maskRegularization: Double
    /// Fixed temperature: the loss sees each sample's masked logits divided by their standard
    /// deviation over classes and multiplied by the zero-shot logits' one; predictions unchanged.
    public var fixedTemperature: Bool

    /// The served objective is `RAdaHyperparameters()`'s, which overrides μ (2) and R (2); these
    /// defaults are the rest of it (R stays 0 here so that objectives built term by term have
    /// only the terms they name).
    public init(
        entropyWeight: Double = 1, confidenceThreshold: Double? = 0.4, diversityWeight: Double = 3,
        diversityMode: DiversityMode = .automatic, zeroShotAnchorWeight: Double = 3, diversityShiftPower: Double = 0,
        diversityUncertaintyPower: Double = 0, entropyReliabilityPower: Double = 0, maskRegularization: Double = 0,
        fixedTemperature: Bool = true
    ) {
        self.entropyWeight = entropyWeight
        self.confidenceThreshold = confidenceThreshold
        self.diversityWeight = diversityWeight
        self.diversityMode = diversityMode
        self.zeroShotAnchorWeight = zeroShotAnchorWeight
        self.diversityShiftPower = diversityShiftPower
        self.diversityUncertaintyPower = diversityUncertaintyPower
        self.entropyReliabilityPower = entropyReliabilityPower
        self.maskRegularization = maskRegularization
        self.fixedTemperature = fixedTemperature
    }

    private enum CodingKeys: String, CodingKey {
        case entropyWeight, confidenceThreshold, diversityWeight, diversityMode, zeroShotAnchorWeight, diversityShiftPower
        case diversityUncertaintyPower, entropyReliabilityPower, maskRegularization, fixedTemperature
    }

    /// Decodes every field; `zeroShotAnchorWeight`, `diversityShiftPower`,
    /// `diversityUncertaintyPower` and `entropyReliabilityPower` may be absent (headers written
    /// before they existed: off).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        entropyWeight = try c.decode(Double.self, forKey: .entropyWeight)
        confidenceThreshold = try c.decodeIfPresent(Double.self, forKey: .confidenceThreshold)
        diversityWeight = try c.decode(Double.self, forKey: .diversityWeight)
        diversityMode = try c.decode(DiversityMode.self, forKey: .diversityMode)
        zeroShotAnchorWeight = try c.decodeIfPresent(Double.self, forKey: .zeroShotAnchorWeight) ?? 0
        diversityShiftPower = try c.decodeIfPresent(Double.self, forKey: .diversityShiftPower) ?? 0
        diversityUncertaintyPower = try c.decodeIfPresent(Double.self, forKey: .diversityUncertaintyPower) ?? 0
        entropyReliabilityPower = try c.decodeIfPresent(Double.self, forKey: .entropyReliabilityPower) ?? 0
        maskRegularization = try c.decode(Double.self, forKey: .maskRegularization)
        fixedTemperature = try c.decode(Bool.self, forKey: .fixedTemperature)
    }

    /// Whether evaluating the objective needs the zero-shot logits.
    public var needsZeroShotLogits: Bool {
        fixedTemperature || zeroShotAnchorWeight != 0 || ((diversityShiftPower != 0 || diversityUncertaintyPower != 0) && diversityWeight != 0)
            || (entropyReliabilityPower != 0 && entropyWeight != 0)
    }

    /// Tent: entropy alone, no filter, no diversity, raw logits.
    public static let entropyOnly = AdaptationObjective(confidenceThreshold: nil, diversityWeight: 0, zeroShotAnchorWeight: 0, fixedTemperature: false)
}

/// The value and logit gradient of a loss on one batch.
public struct LossEvaluation<T: RAdaScalar>: Sendable, Equatable {
    public var loss: T
    /// `∂L/∂z`, B×K.
    public var logitGradient: [T]
    /// `∂L/∂ max|M−1|` per image (nil when the regulariser is off).
    public var deviationGradient: [T]?
    /// Samples that passed the confidence filter (all of them with labels or without a filter).
    public var keptCount: Int
    /// Per-sample entropy of the loss's distribution.
    public var entropies: [T]
}
