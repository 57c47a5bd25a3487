/// The steps' uncertainty gate (Docs/rada.md, "Step gate"): each optimiser step's gradient step
/// times s + (1 − s)·g. g = Ramp(ū; u, w) of the stream's running zero-shot entropy ū (a
/// fraction of log K: centring's running mean, so the gate is applied only where centring keeps
/// it, `RAdaHyperparameters.appliedStepGate`), or, with a
/// coverage threshold, the larger of that and the batch's skew, 1 − Ramp(c; c₀, w_c) of the
/// coverage c = H(q̄)/log K of its zero-shot mean prediction. Where zero-shot CLIP is already sure
/// of the stream's images (clean ones), entropy minimisation only sharpens its few mistakes; the
/// gate keeps such a stream at zero-shot while shifted streams adapt at the full rate, and a run
/// of one or two classes (label shift, whose images zero-shot can be as sure of as of clean ones)
/// keeps learning its classes. AdamW's decay is scaled with the step, so that a shut gate leaves
/// the mask where it is, unless `decayWhileShut`: then the decay keeps its full rate and a shut
/// gate returns the mask towards zero-shot instead of holding the last domain's. Before the
/// stream has seen an image the running part of g is 0. `StepGate()` itself is off (s = 1).
public struct StepGate: Codable, Sendable, Equatable {
    /// s: the share of the step the gate does not scale (1: off; 0: no gradient step at all
    /// while the gate is shut).
    public var ungatedShare: Double = 1
    /// u and w: the gate is shut up to ū = u and open from u + w (linear between).
    public var entropyThreshold: Double = 0.18
    public var entropyRamp: Double = 0.05
    /// c₀ and w_c: a batch whose coverage is at most c₀ opens the gate fully, one above
    /// c₀ + w_c not at all (linear between). nil: the batch's coverage is not read.
    public var coverageThreshold: Double?
    public var coverageRamp: Double = Self.defaultCoverageRamp
    public static let defaultCoverageRamp = 0.2
    /// u_b: a request of at least `batchMinimum` images whose own mean zero-shot entropy (a
    /// fraction of log K) is above u_b opens the gate as the running reading would (over the same
    /// ramp w), without its lag of a few hundred images when a harder domain begins. nil: off.
    public var batchEntropyThreshold: Double?
    public var batchMinimum: Int = Self.defaultBatchMinimum
    public static let defaultBatchMinimum = 8
    /// Whether AdamW's decoupled decay keeps its full rate while the gate is shut (false: it
    /// is part of the step and scaled with it). Adam's and SGD's decay is a term of the gradient
    /// and always scaled with it.
    public var decayWhileShut = false

    public init(
        ungatedShare: Double = 1, entropyThreshold: Double = 0.18, entropyRamp: Double = 0.05,
        coverageThreshold: Double? = nil, coverageRamp: Double = defaultCoverageRamp, batchEntropyThreshold: Double? = nil,
        batchMinimum: Int = defaultBatchMinimum, decayWhileShut: Bool = false
    ) {
        self.ungatedShare = ungatedShare
        self.entropyThreshold = entropyThreshold
        self.entropyRamp = entropyRamp
        self.coverageThreshold = coverageThreshold
        self.coverageRamp = coverageRamp
        self.batchEntropyThreshold = batchEntropyThreshold
        self.batchMinimum = batchMinimum
        self.decayWhileShut = decayWhileShut
    }

    public var isOn: Bool { ungatedShare < 1 }

    /// Whether the scale reads the batch's zero-shot coverage.
    var readsCoverage: Bool { isOn && coverageThreshold != nil }

    /// Whether the scale reads the request's own mean zero-shot entropy, for `batch` images.
    func readsBatchEntropy(batch: Int) -> Bool { isOn && batchEntropyThreshold != nil && batch >= batchMinimum }

    /// The step's factor for running entropy `u` (nil: no image seen yet), the batch's coverage
    /// `c` and its own mean zero-shot entropy `ub` (nil: not read).
    func scale(runningEntropy u: Double?, coverage c: Double? = nil, batchEntropy ub: Double? = nil) -> Double {
        guard isOn else { return 1 }
        var g = u.map { Ramp.rising($0, threshold: entropyThreshold, width: entropyRamp) } ?? 0
        if let ub0 = batchEntropyThreshold, let ub { g = max(g, Ramp.rising(ub, threshold: ub0, width: entropyRamp)) }
        if let c0 = coverageThreshold, let c { g = max(g, 1 - Ramp.rising(c, threshold: c0, width: coverageRamp)) }
        return ungatedShare + (1 - ungatedShare) * g
    }

    private enum CodingKeys: String, CodingKey {
        case ungatedShare, entropyThreshold, entropyRamp, coverageThreshold, coverageRamp, batchEntropyThreshold, batchMinimum, decayWhileShut
    }

    /// The coverage, batch and decay fields are written only when they differ from their defaults, so a
    /// gate stored before they existed reads back, and writes, the same bytes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ungatedShare = try c.decode(Double.self, forKey: .ungatedShare)
        entropyThreshold = try c.decode(Double.self, forKey: .entropyThreshold)
        entropyRamp = try c.decode(Double.self, forKey: .entropyRamp)
        // null switches the coverage or the batch reading off; the others are not optional, so
        // null is not a value for them.
        coverageThreshold = try c.decodeIfPresent(Double.self, forKey: .coverageThreshold)
        coverageRamp = c.contains(.coverageRamp) ? try c.decode(Double.self, forKey: .coverageRamp) : Self.defaultCoverageRamp
        batchEntropyThreshold = try c.decodeIfPresent(Double.self, forKey: .batchEntropyThreshold)
        batchMinimum = c.contains(.batchMinimum) ? try c.decode(Int.self, forKey: .batchMinimum) : Self.defaultBatchMinimum
        decayWhileShut = c.contains(.decayWhileShut) ? try c.decode(Bool.self, forKey: .decayWhileShut) : false
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ungatedShare, forKey: .ungatedShare)
        try c.encode(entropyThreshold, forKey: .entropyThreshold)
        try c.encode(entropyRamp, forKey: .entropyRamp)
        try c.encodeIfPresent(coverageThreshold, forKey: .coverageThreshold)
        if coverageThreshold != nil || coverageRamp != Self.defaultCoverageRamp { try c.encode(coverageRamp, forKey: .coverageRamp) }
        try c.encodeIfPresent(batchEntropyThreshold, forKey: .batchEntropyThreshold)
        if batchMinimum != Self.defaultBatchMinimum { try c.encode(batchMinimum, forKey: .batchMinimum) }
        if decayWhileShut { try c.encode(decayWhileShut, forKey: .decayWhileShut) }
    }
}
