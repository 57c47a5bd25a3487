/// When a request's predictions are made relative to the adaptation steps on that request.
public enum AdaptationPolicy: String, Codable, Sendable, Equatable {
    /// Predict with the current mask, then adapt on the batch (the online default).
    case predictThenAdapt
    /// Adapt on the batch, then predict with the updated mask.
    case adaptThenPredict
    /// Adapt, predict, then return to the stream's base state: every batch starts from zero-shot.
    case episodic
}

/// Collapse protection: automatic resets of the mask and optimiser (counters are kept).
public struct CollapseProtection: Codable, Sendable, Equatable {
    /// Reset when the running mean of per-sample prediction entropy falls below this fraction of
    /// log K (SAR-style model recovery). nil: off.
    public var entropyResetFraction: Double? = nil
    /// Reset when the entropy of the running mean prediction (the stream's class histogram) falls
    /// below this fraction of log K: the stream is collapsing onto few classes. nil: off.
    public var histogramEntropyResetFraction: Double? = nil
    /// Reset after this many optimiser steps since the last reset (RDumb-style). nil: off.
    public var resetEveryOptimizerSteps: Int? = nil

    public init(entropyResetFraction: Double? = nil, histogramEntropyResetFraction: Double? = nil, resetEveryOptimizerSteps: Int? = nil) {
        self.entropyResetFraction = entropyResetFraction
        self.histogramEntropyResetFraction = histogramEntropyResetFraction
        self.resetEveryOptimizerSteps = resetEveryOptimizerSteps
    }
}

/// Everything that configures a stream's adaptation. Defaults were chosen on validation streams
/// of corrupted Fashion-MNIST *training* images (Docs/benchmarks.md): embedding centring gated by
/// zero-shot's uncertainty, then entropy with reliability
/// weights (R = 2) + batch-mean diversity (λ = 3) + zero-shot anchor (μ = 2) + confidence filter
/// (e0 = 0.4) on fixed-temperature logits, one AdamW step per batch (weight decay 20 per 64
/// images, which pulls the output map, and with it the mask, back towards the identity at the
/// same rate per image whatever the batch), lr 5e-3 at s ≈ 13 scaled for s, predict then adapt,
/// a Gaussian class model of the centred embeddings fused with the mask's logits behind
/// centring's gate, and the answer of a batch that is a run of few classes re-weighted by its own
/// EM class prior.
/// The replay window (the validated answer for batch sizes 1 and 16) is off by default: a step
/// on N images costs N single-image steps, about 27 s at K = 1000, D = 512.
public struct RAdaHyperparameters: Codable, Sendable, Equatable {
    /// τ of the flat attention softmax.
    public var attentionTemperature: Double = 1
    /// The served objective and optimiser: the building blocks' own defaults but for the four
    /// values the ninth validation round chose (μ 3 → 2, R 0 → 2, weight decay 5 → 20, per step →
    /// per 64 images) and the label-shift detector P = 2 of the sixteenth. Stored hyper-parameters
    /// carry every field (absent ones read as off), so streams and checkpoints written before keep
    /// their settings.
    public var objective = AdaptationObjective(zeroShotAnchorWeight: 2, diversityShiftPower: 2, entropyReliabilityPower: 2)
    public var optimizer = OptimizerSettings(weightDecay: 20, decayReferenceImages: 64)
    public var policy: AdaptationPolicy = .predictThenAdapt
    /// Optimiser steps per request batch.
    public var stepsPerBatch: Int = 1
    /// Momentum of the running statistics (mean prediction entropy, mean prediction), which also
    /// serve as the running-anchor diversity reference.
    public var runningMomentum: Double = 0.9
    public var collapse = CollapseProtection()
    /// Replay window: each step is taken on the stream's most recent `replayImages` image
    /// embeddings (the current batch included), not only on the current batch, whenever the batch
    /// is smaller than the window. The window is what makes a batch-level objective (the diversity
    /// term) meaningful for single-image requests. 0: off (steps see the current batch only).
    /// Validated at 32 for batch sizes 1 and 16 on the embedded model (K = 10, D = 128); off by
    /// default because its cost grows with N·K·D².
    public var replayImages: Int = 0
    /// Embedding centring, on: the whole running mean (a = 1) subtracted while zero-shot's running
    /// entropy is above 0.18·log K, fully from 0.23 (the eleventh and twelfth validation rounds),
    /// the centred embeddings whitened by the running covariance shrunk towards the identity with
    /// ρ = 0.3, W recomputed every 256 images (the fourteenth round), a memory of 500 images
    /// (1 000 until the sixteenth round), and requests of 8 images or more also gated by their own
    /// zero-shot entropy from 0.15 (the twenty-second round); `EmbeddingCentring()` itself is off.
    public var centring = EmbeddingCentring(
        weight: 1, memoryImages: 500, entropyThreshold: 0.18, entropyRamp: 0.05, whitening: 0.3, whiteningRefreshImages: 256,
        batchGateMinimum: 8, batchEntropyThreshold: 0.15)
    /// Rows of the B·K×D rational matrix processed at once (memory/speed trade-off only).
    public var chunkRows: Int = 512
    /// The Gaussian class model fused with the mask's logits (`ClassGaussians`), on since the
    /// nineteenth validation round: largest weight η 3, ρ 0.05 per unit of evidence, forgetting
    /// γ 0.995 per image, σ 1, ε 10⁻³, a class prior over 256 images (`GaussianFusion()` itself
    /// is off). Stored hyper-parameters without the field keep it off.
    public var gaussians = GaussianFusion(maxWeight: 3)
    /// The batch's label-shift correction of the answer (`PriorCorrection`), on since the
    /// twenty-first validation round: strength 1, full below a coverage of 0.6 (gone at 0.8),
    /// batches of 8 or more, shut by a batch mean zero-shot entropy above 0.18 (fully at 0.23)
    /// (`PriorCorrection()` itself is off). Stored hyper-parameters without the field keep it off.
    public var priorCorrection = PriorCorrection(strength: 1)
    /// The steps' uncertainty gate (`StepGate`), on since the thirtieth validation round: no
    /// gradient step while zero-shot's running entropy is below 0.13·log K, the full step from
    /// 0.15, AdamW's decay at its full rate while shut (`StepGate()` itself is off). Applied
    /// only where centring keeps its running evidence (`appliedStepGate`). Stored
    /// hyper-parameters without the field keep it off.
    public var stepGate = StepGate(ungatedShare: 0, entropyThreshold: 0.13, entropyRamp: 0.02, decayWhileShut: true)
    /// The memory of domains (`DomainMemory`), on since the thirty-second validation round: a
    /// per-class key at threshold 0.03, 16 states in at most 64 MiB. Applied only where the
    /// policy keeps a state (`appliedDomainMemory`). Stored hyper-parameters without the field
    /// keep it off.
    public var domainMemory = DomainMemory(capacity: 16, maxBytes: 64 << 20, threshold: 0.03, key: .perClass)

    /// The gate the unlabelled steps use: `stepGate`, or off where its evidence, centring's running
    /// zero-shot entropy, is not kept (centring off, or an episodic stream that keeps nothing).
    /// A gate that read no evidence would shut every step.
    public var appliedStepGate: StepGate {
        stepGate.isOn && centring.isOn && policy != .episodic ? stepGate : StepGate()
    }

    /// The memory of domains a stream of `classes` × `dimension` runs: `domainMemory` with the
    /// capacity its `maxBytes` leaves for states of that size, or off under the episodic policy,
    /// which keeps no state to store.
    public func appliedDomainMemory(classes: Int, dimension: Int) -> DomainMemory {
        var applied = domainMemory
        applied.capacity = policy == .episodic
            ? 0 : domainMemory.storedCapacity(stateBytes: adaptedStateBytes(classes: classes, dimension: dimension))
        return applied
    }

    /// Bytes of a stream's adapted state (what the memory of domains stores per domain:
    /// `AdaptedParts`) at its full size.
    public func adaptedStateBytes(classes k: Int, dimension d: Int) -> Int {
        let maskFloats = RAdaMask<Float>.parameterCount(dimension: d)
        let floats = maskFloats * (1 + optimizer.momentCount) + k + replayImages * d + (centring.isOn ? d : 0)
            + (centring.whitens ? 3 * d * d : 0)
        let gaussianBytes = gaussians.isOn ? ClassGaussians.memoryBytes(classes: k, dimension: d) : 0
        return floats * MemoryLayout<Float>.stride + gaussianBytes
    }

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case attentionTemperature, objective, optimizer, policy, stepsPerBatch, runningMomentum, collapse, replayImages, centring, chunkRows,
            gaussians, priorCorrection, stepGate, domainMemory
    }

    /// Decodes every field; `replayImages`, `centring`, `gaussians`, `priorCorrection`, `stepGate` and `domainMemory` may be
    /// absent (headers written before they existed: off).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attentionTemperature = try c.decode(Double.self, forKey: .attentionTemperature)
        objective = try c.decode(AdaptationObjective.self, forKey: .objective)
        optimizer = try c.decode(OptimizerSettings.self, forKey: .optimizer)
        policy = try c.decode(AdaptationPolicy.self, forKey: .policy)
        stepsPerBatch = try c.decode(Int.self, forKey: .stepsPerBatch)
        runningMomentum = try c.decode(Double.self, forKey: .runningMomentum)
        collapse = try c.decode(CollapseProtection.self, forKey: .collapse)
        replayImages = try c.decodeIfPresent(Int.self, forKey: .replayImages) ?? 0
        centring = try c.decodeIfPresent(EmbeddingCentring.self, forKey: .centring) ?? EmbeddingCentring()
        chunkRows = try c.decode(Int.self, forKey: .chunkRows)
        // Absent reads as off; an explicit null is not a value.
        gaussians = c.contains(.gaussians) ? try c.decode(GaussianFusion.self, forKey: .gaussians) : GaussianFusion()
        priorCorrection = c.contains(.priorCorrection) ? try c.decode(PriorCorrection.self, forKey: .priorCorrection) : PriorCorrection()
        stepGate = c.contains(.stepGate) ? try c.decode(StepGate.self, forKey: .stepGate) : StepGate()
        domainMemory = c.contains(.domainMemory) ? try c.decode(DomainMemory.self, forKey: .domainMemory) : DomainMemory()
    }

    /// Throws when a value is outside its documented range (Docs/rada.md, "Policy bounds"). The
    /// upper bounds keep every policy a client can send, in a request or a checkpoint, from
    /// asking for unbounded work or memory, or from turning the arithmetic into NaN.
    public func validate() throws {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw AdaptationError.invalidHyperparameter(message()) }
        }
        func within(_ value: Double, _ range: ClosedRange<Double>) -> Bool { value.isFinite && range.contains(value) }
        try check(within(attentionTemperature, 1e-3...1e3), "attentionTemperature must be in [0.001, 1000], got \(attentionTemperature)")
        try check(stepsPerBatch >= 0 && stepsPerBatch <= 1000, "stepsPerBatch must be in 0...1000, got \(stepsPerBatch)")
        try check(within(runningMomentum, 0...0.999_999), "runningMomentum must be in [0, 1), got \(runningMomentum)")
        try check(replayImages >= 0 && replayImages <= 4096, "replayImages must be in 0...4096, got \(replayImages)")
        try check(within(centring.weight, 0...4), "centring weight must be in [0, 4], got \(centring.weight)")
        try check(within(centring.memoryImages, 1...1e7), "centring memoryImages must be in [1, 10000000], got \(centring.memoryImages)")
        try check(within(centring.entropyThreshold, 0...2) && within(centring.entropyRamp, 0...2),
                  "centring entropyThreshold and entropyRamp must be in [0, 2], got \(centring.entropyThreshold) and \(centring.entropyRamp)")
        try check(within(centring.whitening, 0...0.99), "centring whitening must be in [0, 0.99], got \(centring.whitening)")
        try check(within(centring.whiteningRefreshImages, 1...1e7),
                  "centring whiteningRefreshImages must be in [1, 10000000], got \(centring.whiteningRefreshImages)")
        try check(centring.batchGateMinimum >= 0 && centring.batchGateMinimum <= 1_000_000,
                  "centring batchGateMinimum must be in 0...1000000, got \(centring.batchGateMinimum)")
        try check(centring.batchEntropyThreshold.map { within($0, 0...2) } ?? true,
                  "centring batchEntropyThreshold must be in [0, 2], got \(centring.batchEntropyThreshold ?? 0)")
        let g = gaussians
        try check(within(g.maxWeight, 0...100) && within(g.weightPerEvidence, 0...100),
                  "gaussians maxWeight and weightPerEvidence must be in [0, 100], got \(g.maxWeight) and \(g.weightPerEvidence)")
        try check(within(g.forgetting, 0.5...0.999_999), "gaussians forgetting must be in [0.5, 0.999999], got \(g.forgetting)")
        try check(within(g.initialVariance, 1e-6...1e6), "gaussians initialVariance must be in [0.000001, 1000000], got \(g.initialVariance)")
        try check(within(g.shrinkage, 1e-6...0.5), "gaussians shrinkage must be in [0.000001, 0.5], got \(g.shrinkage)")
        try check(within(g.priorWindow, 1...1e7), "gaussians priorWindow must be in [1, 10000000], got \(g.priorWindow)")
        let pc = priorCorrection
        try check(within(pc.strength, 0...10), "priorCorrection strength must be in [0, 10], got \(pc.strength)")
        try check(within(pc.coverageThreshold, 0...1) && within(pc.coverageRamp, 0...1),
                  "priorCorrection coverageThreshold and coverageRamp must be in [0, 1], got \(pc.coverageThreshold) and \(pc.coverageRamp)")
        try check(pc.minimumBatch >= 1 && pc.minimumBatch <= 1 << 20, "priorCorrection minimumBatch must be in 1...1048576, got \(pc.minimumBatch)")
        try check(within(pc.batchEntropyThreshold, 0...2) && within(pc.batchEntropyRamp, 0...2),
                  "priorCorrection batchEntropyThreshold and batchEntropyRamp must be in [0, 2], got \(pc.batchEntropyThreshold) and \(pc.batchEntropyRamp)")
        try check(within(stepGate.ungatedShare, 0...1), "stepGate ungatedShare must be in [0, 1], got \(stepGate.ungatedShare)")
        try check(within(stepGate.entropyThreshold, 0...2) && within(stepGate.entropyRamp, 0...2),
                  "stepGate entropyThreshold and entropyRamp must be in [0, 2], got \(stepGate.entropyThreshold) and \(stepGate.entropyRamp)")
        let dm = domainMemory
        try check(dm.capacity >= 0 && dm.capacity <= DomainMemory.maxCapacity,
                  "domainMemory capacity must be in 0...\(DomainMemory.maxCapacity), got \(dm.capacity)")
        try check(within(dm.threshold, 1e-6...2), "domainMemory threshold must be in [0.000001, 2], got \(dm.threshold)")
        try check(within(dm.keyMomentum, 0...0.999_999), "domainMemory keyMomentum must be in [0, 1), got \(dm.keyMomentum)")
        try check(dm.minimumBatch >= 1 && dm.minimumBatch <= 1 << 20 && dm.minimumPerClass >= 1 && dm.minimumPerClass <= 1 << 20,
                  "domainMemory minimumBatch and minimumPerClass must be in 1...1048576, got \(dm.minimumBatch) and \(dm.minimumPerClass)")
        try check((1...DomainMemory.maxBytesLimit).contains(dm.maxBytes),
                  "domainMemory maxBytes must be in 1...\(DomainMemory.maxBytesLimit), got \(dm.maxBytes)")
        try check(chunkRows >= 1 && chunkRows <= 1 << 20, "chunkRows must be in 1...1048576, got \(chunkRows)")
        if let lr = optimizer.learningRate { try check(within(lr, 0...10), "learningRate must be in [0, 10], got \(lr)") }
        try check(within(optimizer.beta1, 0...0.999_999) && within(optimizer.beta2, 0...0.999_999), "Adam betas must be in [0, 1)")
        try check(within(optimizer.epsilon, 1e-30...1), "optimizer epsilon must be in [1e-30, 1], got \(optimizer.epsilon)")
        try check(within(optimizer.weightDecay, 0...1e4) && within(optimizer.momentum, 0...0.999_999),
                  "weightDecay must be in [0, 10000] and momentum in [0, 1)")
        try check(within(optimizer.queryKeyDecayShare, 0...1), "queryKeyDecayShare must be in [0, 1], got \(optimizer.queryKeyDecayShare)")
        try check(optimizer.queryKeyDecayShare == 1 || optimizer.kind == .adamW,
                  "queryKeyDecayShare below 1 needs the adamW optimizer (Adam's and SGD's decay is an L2 term on every parameter)")
        if let n = optimizer.decayReferenceImages { try check(n >= 1 && n <= 4096, "decayReferenceImages must be in 1...4096, got \(n)") }
        if let e0 = objective.confidenceThreshold { try check(within(e0, 1e-6...1e3), "confidenceThreshold must be in (0, 1000], got \(e0)") }
        let weights = [objective.entropyWeight, objective.diversityWeight, objective.zeroShotAnchorWeight, objective.maskRegularization]
        try check(weights.allSatisfy { within($0, 0...1e6) }, "loss weights must be in [0, 1e6]")
        try check(within(objective.diversityShiftPower, 0...64) && within(objective.diversityUncertaintyPower, 0...64),
                  "diversityShiftPower and diversityUncertaintyPower must be in [0, 64], got \(objective.diversityShiftPower) and \(objective.diversityUncertaintyPower)")
        try check(within(objective.entropyReliabilityPower, 0...64), "entropyReliabilityPower must be in [0, 64], got \(objective.entropyReliabilityPower)")
        for fraction in [collapse.entropyResetFraction, collapse.histogramEntropyResetFraction].compactMap({ $0 }) {
            try check(within(fraction, 0...2), "collapse reset fractions must be in [0, 2] (above 1: always), got \(fraction)")
        }
        if let n = collapse.resetEveryOptimizerSteps { try check(n >= 1 && n < 1 << 53, "resetEveryOptimizerSteps must be in 1..<2^53, got \(n)") }
    }
}
