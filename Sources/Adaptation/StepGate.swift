/// The steps' uncertainty gate (Docs/rada.md, "Step gate"): each optimiser step's gradient step
/// times s + (1 − s)·g, g = Ramp(ū; u, w) of the stream's running zero-shot entropy ū (a
/// fraction of log K: centring's running mean, so the gate is applied only where centring keeps
/// it, `RAdaHyperparameters.appliedStepGate`). Where zero-shot CLIP is already sure of the
/// stream's images (clean ones), entropy minimisation only sharpens its few mistakes; the gate
/// keeps such a stream at zero-shot while shifted streams adapt at the full rate. AdamW's decay
/// is scaled with the step, so that a shut gate leaves the mask where it is, unless
/// `decayWhileShut`: then the decay keeps its full rate and a shut gate returns the mask towards
/// zero-shot instead of holding the last domain's. Before the stream has seen an image g is 0.
/// `StepGate()` itself is off (s = 1).
public struct StepGate: Codable, Sendable, Equatable {
    /// s: the share of the step the gate does not scale (1: off; 0: no gradient step at all
    /// while the gate is shut).
    public var ungatedShare: Double = 1
    /// u and w: the gate is shut up to ū = u and open from u + w (linear between).
    public var entropyThreshold: Double = 0.18
    public var entropyRamp: Double = 0.05
    /// Whether AdamW's decoupled decay keeps its full rate while the gate is shut (false: it
    /// is part of the step and scaled with it). Adam's and SGD's decay is a term of the gradient
    /// and always scaled with it.
    public var decayWhileShut = false

    public init(ungatedShare: Double = 1, entropyThreshold: Double = 0.18, entropyRamp: Double = 0.05, decayWhileShut: Bool = false) {
        self.ungatedShare = ungatedShare
        self.entropyThreshold = entropyThreshold
        self.entropyRamp = entropyRamp
        self.decayWhileShut = decayWhileShut
    }

    public var isOn: Bool { ungatedShare < 1 }

    /// The step's factor for running entropy `u` (nil: no image seen yet).
    func scale(runningEntropy u: Double?) -> Double {
        guard isOn else { return 1 }
        let g = u.map { Ramp.rising($0, threshold: entropyThreshold, width: entropyRamp) } ?? 0
        return ungatedShare + (1 - ungatedShare) * g
    }

    private enum CodingKeys: String, CodingKey {
        case ungatedShare, entropyThreshold, entropyRamp, decayWhileShut
    }

    /// `decayWhileShut` is written only when true, so a gate stored before it existed reads back,
    /// and writes, the same bytes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ungatedShare = try c.decode(Double.self, forKey: .ungatedShare)
        entropyThreshold = try c.decode(Double.self, forKey: .entropyThreshold)
        entropyRamp = try c.decode(Double.self, forKey: .entropyRamp)
        // Absent reads as false; null is not a value.
        decayWhileShut = c.contains(.decayWhileShut) ? try c.decode(Bool.self, forKey: .decayWhileShut) : false
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ungatedShare, forKey: .ungatedShare)
        try c.encode(entropyThreshold, forKey: .entropyThreshold)
        try c.encode(entropyRamp, forKey: .entropyRamp)
        if decayWhileShut { try c.encode(decayWhileShut, forKey: .decayWhileShut) }
    }
}
