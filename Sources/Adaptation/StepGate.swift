/// The steps' uncertainty gate (Docs/rada.md, "Step gate"): each optimiser step's learning rate,
/// its decay included, times s + (1 − s)·g, with g = Ramp(ū; u, w) of the stream's running
/// zero-shot entropy ū (a fraction of log K: centring's running mean, so the gate needs centring
/// on). Where zero-shot CLIP is already sure of the stream's images (clean ones), entropy
/// minimisation only sharpens its few mistakes; the gate keeps such a stream at zero-shot while
/// shifted streams adapt at the full rate. Before the stream has seen an image g is 0.
/// `StepGate()` itself is off (s = 1).
public struct StepGate: Codable, Sendable, Equatable {
    /// s: the share of the learning rate the gate does not scale (1: off; 0: no step at all while
    /// the gate is shut).
    public var ungatedShare: Double = 1
    /// u and w: the gate is shut up to ū = u and open from u + w (linear between).
    public var entropyThreshold: Double = 0.18
    public var entropyRamp: Double = 0.05

    public init(ungatedShare: Double = 1, entropyThreshold: Double = 0.18, entropyRamp: Double = 0.05) {
        self.ungatedShare = ungatedShare
        self.entropyThreshold = entropyThreshold
        self.entropyRamp = entropyRamp
    }

    public var isOn: Bool { ungatedShare < 1 }

    /// The learning rate's factor for running entropy `u` (nil: no image seen yet).
    func scale(runningEntropy u: Double?) -> Double {
        guard isOn else { return 1 }
        let g = u.map { Ramp.rising($0, threshold: entropyThreshold, width: entropyRamp) } ?? 0
        return ungatedShare + (1 - ungatedShare) * g
    }
}
