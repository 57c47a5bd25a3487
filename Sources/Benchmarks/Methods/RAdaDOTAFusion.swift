import Adaptation
import RadaNumerics

/// rada and DOTA on one stream, DOTA's adjustment added to the mask's logits (as `FusedMethod`
/// with rada first), with two couplings `FusedMethod` cannot express (issue 15, eighteenth
/// round):
/// - `centred`: DOTA models the embeddings the mask sees (the stream's centred and whitened
///   ones, read before rada processes the batch, so causal as rada itself), its zero-shot term
///   and scores computed on them, instead of the raw embeddings;
/// - DOTA's `fusedLabels` option then takes its pseudo-labels from the fused prediction, the
///   mask's logits plus DOTA's adjustment, image by image as predicted;
/// - `gated`: DOTA's fusion weight is multiplied by the stream's centring gate g (read with the
///   centred embeddings), so a domain zero-shot reads confidently (clean images, label-shift
///   runs, the easy corruptions, where the Gaussians cost accuracy) is rada's alone.
/// With none of them, the logits equal `FusedMethod(rada, dota)`'s bit for bit.
public struct RAdaDOTAFusion: TTAMethod {
    public let name: String
    public private(set) var rada: RAdaMethod
    public private(set) var dota: DOTAMethod
    public let centred: Bool
    public let gated: Bool

    public init(rada: RAdaMethod, dota: DOTAMethod, centred: Bool, gated: Bool = false, name: String) {
        self.rada = rada
        self.dota = dota
        self.centred = centred
        self.gated = gated
        self.name = name
    }

    public mutating func process(features: Matrix, labels: [Int]) throws -> Matrix {
        let dotaFeatures = centred ? try rada.state.centredFeatures(features) : features
        let scale = gated ? rada.state.centringGate : 1
        let zeroShot = try ZeroShotMethod.logits(dotaFeatures, dota.textEmbeddings, dota.logitScale)
        var fused = try rada.process(features: features, labels: labels)
        let other = try dota.process(features: dotaFeatures, base: fused, fusionScale: scale)
        for i in fused.storage.indices { fused.storage[i] += other.storage[i] - zeroShot.storage[i] }
        return fused
    }

    public mutating func reset() {
        rada.reset()
        dota.reset()
    }
}
