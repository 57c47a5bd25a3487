import Adaptation
import ArgumentParser

/// RAda hyper-parameters as command-line options; anything not given keeps the engine's
/// measured default (`RAdaHyperparameters()`).
struct RAdaOptions: ParsableArguments {
    @Option(help: "Attention heads of the mask.") var heads = 8
    @Option(help: "Seed of the mask's initial maps.") var maskSeed: UInt64 = 0
    @Option(help: "Learning rate (default: scaled for the model's logit scale).") var lr: Double?
    @Option(help: "Optimiser: adam, adamW or sgd.") var optimizer: String?
    @Option(help: "Weight decay.") var weightDecay: Double?
    @Option(help: "AdamW's decay per image: a step on B images decays (1 - lr·wd)^(B/N), as a step on N images did (default: per step).") var decayReferenceImages: Int?
    @Option(help: "Where the weight decay pulls: zero (PyTorch's rule) or initial (the stream's initial mask parameters).") var decayTowards: String?
    @Option(help: "AdamW: the share of the weight decay the mask's query and key maps take, in [0, 1] (1: all of it).") var queryKeyDecay: Double?
    @Option(help: "Adam's β₁ (the gradient's momentum: a running average over about 1/(1 − β₁) steps).") var beta1: Double?
    @Option(help: "Adam's β₂ (the second moment's momentum).") var beta2: Double?
    @Option(help: "Adam's ε (added to the root of the second moment: where gradients are smaller than ε, steps shrink with them).") var adamEpsilon: Double?
    @Option(help: "Optimiser steps per batch.") var steps: Int?
    @Option(help: "Weight of the entropy term.") var entropyWeight: Double?
    @Option(help: "Weight of the diversity term.") var diversity: Double?
    @Option(help: "Diversity reference: batchMean, runningAnchor, automatic (anchor for single images) or estimatedPrior (KL to the running mean prediction; anchor for single images).") var diversityMode: String?
    @Option(help: "Label-shift detector: the diversity weight times (H(zero-shot mean prediction)/log K)^P (0: off).") var diversityShiftPower: Double?
    @Option(help: "Uncertainty gate: the diversity weight times (zero-shot mean per-image entropy/log K)^Q (0: off).") var diversityUncertaintyPower: Double?
    @Option(help: "Reliability weights: each image's entropy term times (1 - its zero-shot entropy/log K)^R (0: off).") var entropyReliabilityPower: Double?
    @Option(help: "Weight of the zero-shot anchor KL(mean prediction ‖ zero-shot mean prediction).") var zsAnchor: Double?
    @Option(help: "Confidence filter e0 (fraction of log K); 'off' disables it.") var e0: String?
    @Option(help: "Weight of the L∞ mask regulariser.") var maskReg: Double?
    @Option(help: "Loss on fixed-temperature logits: on or off.") var fixedTemperature: String?
    @Option(help: "Policy: predictThenAdapt, adaptThenPredict or episodic.") var policy: String?
    @Option(help: "Reset after this many optimiser steps (RDumb-style).") var resetEvery: Int?
    @Option(help: "Reset when the running entropy falls below this fraction of log K.") var entropyReset: Double?
    @Option(help: "Reset when the prediction histogram's entropy falls below this fraction of log K.") var histogramReset: Double?
    @Option(help: "Replay window: steps on a batch smaller than N images run on the stream's last N images (0: off).") var replay: Int?
    @Option(help: "Momentum of the running statistics (and the batch-1 diversity anchor).") var runningMomentum: Double?
    @Option(help: "Embedding centring: subtract this share of the running mean image embedding before the mask (0: off).") var centring: Double?
    @Option(help: "Memory of the centring's running means, in images.") var centringMemory: Double?
    @Option(help: "Centring's gate: no centring while zero-shot's running entropy (fraction of log K) is at most this.") var centringThreshold: Double?
    @Option(help: "Centring's gate: the entropy rise above the threshold over which it opens fully.") var centringRamp: Double?
    @Option(help: "Whitening of the centred embeddings by the running covariance, shrunk towards the identity: the covariance's share rho in [0, 0.99] (0: off).") var centringWhitening: Double?
    @Option(help: "Whitening: recompute the whitening matrix after this many images.") var centringWhiteningRefresh: Double?
    @Option(help: "Centring's batch gate: batches of at least this many images are also gated by their own mean zero-shot entropy (0: off).") var centringBatchGate: Int?
    @Option(help: "Centring's batch gate: its entropy threshold (default: the running gate's).") var centringBatchThreshold: Double?
    @Option(help: "Class Gaussians fused with the mask: the largest fusion weight eta (0: off).") var gaussians: Double?
    @Option(help: "Class Gaussians: fusion weight per unit of mean class evidence (rho).") var gaussianRho: Double?
    @Option(help: "Class Gaussians: forgetting factor gamma per image, in [0.5, 0.999999].") var gaussianForgetting: Double?
    @Option(help: "Class Gaussians: shrinkage of the pooled covariance towards the identity.") var gaussianShrinkage: Double?
    @Option(help: "Class Gaussians: the running class prior's memory in images.") var gaussianPriorWindow: Double?
    @Option(help: "Label-shift correction of a batch's answer by its EM class prior: strength a (0: off).") var priorCorrection: Double?
    @Option(help: "Label-shift correction: full below this coverage H(mean prediction)/log K.") var priorCoverageThreshold: Double?
    @Option(help: "Label-shift correction: the coverage rise over which it fades out.") var priorCoverageRamp: Double?
    @Option(help: "Label-shift correction: the smallest batch corrected.") var priorMinimumBatch: Int?
    @Option(help: "Label-shift correction: none for a batch whose mean zero-shot entropy (fraction of log K) is above this (plus the ramp).") var priorBatchEntropy: Double?
    @Option(help: "Label-shift correction: the batch entropy's ramp.") var priorBatchEntropyRamp: Double?

    @Option(help: "Step gate: the share of the learning rate zero-shot's running uncertainty does not scale, in [0, 1] (1: off).") var stepGate: Double?
    @Option(help: "Step gate: shut up to this running zero-shot entropy (fraction of log K).") var stepGateThreshold: Double?
    @Option(help: "Step gate: the entropy rise above the threshold over which it opens fully.") var stepGateRamp: Double?
    @Option(help: "Step gate: AdamW's decay at its full rate while the gate is shut (on), or scaled with the step (off).") var stepGateDecay: String?

    @Option(help: ArgumentHelp(
        "Memory of domains: THRESHOLD[/CAPACITY[/KEY]] or off (default 0.03/16/per-class within 64 MiB).",
        discussion: "off: no memory; THRESHOLD: the cosine distance from the current domain's key that is a shift, in (0, 2]; CAPACITY: adapted states kept, 1...\(DomainMemory.maxCapacity) (default 16); KEY: batch-mean (default) or per-class."))
    var domainMemory: String?

    func hyperparameters() throws -> RAdaHyperparameters {
        var h = RAdaHyperparameters()
        if let lr { h.optimizer.learningRate = lr }
        if let optimizer {
            guard let kind = OptimizerKind(rawValue: optimizer) else { throw ValidationError("--optimizer must be adam, adamW or sgd") }
            h.optimizer.kind = kind
        }
        if let weightDecay { h.optimizer.weightDecay = weightDecay }
        if let decayReferenceImages { h.optimizer.decayReferenceImages = decayReferenceImages }
        if let decayTowards {
            guard ["zero", "initial"].contains(decayTowards) else { throw ValidationError("--decay-towards must be zero or initial") }
            h.optimizer.decayTowardsInitial = decayTowards == "initial"
        }
        if let queryKeyDecay { h.optimizer.queryKeyDecayShare = queryKeyDecay }
        if let beta1 { h.optimizer.beta1 = beta1 }
        if let beta2 { h.optimizer.beta2 = beta2 }
        if let adamEpsilon { h.optimizer.epsilon = adamEpsilon }
        if let steps { h.stepsPerBatch = steps }
        if let entropyWeight { h.objective.entropyWeight = entropyWeight }
        if let diversity { h.objective.diversityWeight = diversity }
        if let diversityMode {
            guard let mode = DiversityMode(rawValue: diversityMode) else { throw ValidationError("--diversity-mode must be batchMean, runningAnchor, automatic or estimatedPrior") }
            h.objective.diversityMode = mode
        }
        if let diversityShiftPower { h.objective.diversityShiftPower = diversityShiftPower }
        if let diversityUncertaintyPower { h.objective.diversityUncertaintyPower = diversityUncertaintyPower }
        if let entropyReliabilityPower { h.objective.entropyReliabilityPower = entropyReliabilityPower }
        if let zsAnchor { h.objective.zeroShotAnchorWeight = zsAnchor }
        if let e0 { h.objective.confidenceThreshold = try Self.numberOrOff(e0, "e0") }
        if let maskReg { h.objective.maskRegularization = maskReg }
        if let fixedTemperature { h.objective.fixedTemperature = try Self.onOff(fixedTemperature, "fixed-temperature") }
        if let policy {
            guard let value = AdaptationPolicy(rawValue: policy) else { throw ValidationError("--policy must be predictThenAdapt, adaptThenPredict or episodic") }
            h.policy = value
        }
        if let resetEvery { h.collapse.resetEveryOptimizerSteps = resetEvery }
        if let entropyReset { h.collapse.entropyResetFraction = entropyReset }
        if let histogramReset { h.collapse.histogramEntropyResetFraction = histogramReset }
        if let replay { h.replayImages = replay }
        if let runningMomentum { h.runningMomentum = runningMomentum }
        if let centring { h.centring.weight = centring }
        if let centringMemory { h.centring.memoryImages = centringMemory }
        if let centringThreshold { h.centring.entropyThreshold = centringThreshold }
        if let centringRamp { h.centring.entropyRamp = centringRamp }
        if let centringWhitening { h.centring.whitening = centringWhitening }
        if let centringWhiteningRefresh { h.centring.whiteningRefreshImages = centringWhiteningRefresh }
        if let centringBatchGate { h.centring.batchGateMinimum = centringBatchGate }
        if let centringBatchThreshold { h.centring.batchEntropyThreshold = centringBatchThreshold }
        if let gaussians { h.gaussians.maxWeight = gaussians }
        if let gaussianRho { h.gaussians.weightPerEvidence = gaussianRho }
        if let gaussianForgetting { h.gaussians.forgetting = gaussianForgetting }
        if let gaussianShrinkage { h.gaussians.shrinkage = gaussianShrinkage }
        if let gaussianPriorWindow { h.gaussians.priorWindow = gaussianPriorWindow }
        if let priorCorrection { h.priorCorrection.strength = priorCorrection }
        if let priorCoverageThreshold { h.priorCorrection.coverageThreshold = priorCoverageThreshold }
        if let priorCoverageRamp { h.priorCorrection.coverageRamp = priorCoverageRamp }
        if let priorMinimumBatch { h.priorCorrection.minimumBatch = priorMinimumBatch }
        if let priorBatchEntropy { h.priorCorrection.batchEntropyThreshold = priorBatchEntropy }
        if let priorBatchEntropyRamp { h.priorCorrection.batchEntropyRamp = priorBatchEntropyRamp }
        if let stepGate { h.stepGate.ungatedShare = stepGate }
        if let stepGateThreshold { h.stepGate.entropyThreshold = stepGateThreshold }
        if let stepGateRamp { h.stepGate.entropyRamp = stepGateRamp }
        if let stepGateDecay { h.stepGate.decayWhileShut = try Self.onOff(stepGateDecay, "step-gate-decay") }
        if let domainMemory { h.domainMemory = try Self.domainMemory(domainMemory, flag: "--domain-memory") }
        try h.validate()
        return h
    }

    /// A setting that is a number or `off` (nil).
    private static func numberOrOff(_ text: String, _ flag: String) throws -> Double? {
        if text == "off" { return nil }
        guard let value = Double(text) else { throw ValidationError("--\(flag) must be a number or off") }
        return value
    }

    /// THRESHOLD[/CAPACITY[/KEY]] or off: the memory of domains' form on the command line.
    static func domainMemory(_ text: String, flag: String) throws -> DomainMemory {
        if text == "off" { return DomainMemory() }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), let threshold = Double(String(parts[0])), threshold > 0, threshold <= 2,
              let capacity = parts.count >= 2 ? Int(String(parts[1])) : 16, (1...DomainMemory.maxCapacity).contains(capacity),
              let key = parts.count == 3 ? DomainMemory.Key(rawValue: String(parts[2])) : .batchMean else {
            let keys = DomainMemory.Key.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("\(flag): expected off, or THRESHOLD in (0, 2], an optional /CAPACITY in 1...\(DomainMemory.maxCapacity) and an optional /KEY (\(keys)), got \(text)")
        }
        return DomainMemory(capacity: capacity, threshold: threshold, key: key)
    }

    private static func onOff(_ text: String, _ flag: String) throws -> Bool {
        guard ["on", "off"].contains(text) else { throw ValidationError("--\(flag) must be on or off") }
        return text == "on"
    }
}

extension RAdaOptions {
    /// `--variant NAME=OPTIONS` (repeatable, in `bench` and `bench-adapt`): OPTIONS, separated by
    /// spaces, parsed as RAda options over the engine's defaults (not over the command's own).
    static func variants(_ texts: [String], reserved: [String]) throws -> [(name: String, options: RAdaOptions)] {
        var seen = Set<String>()
        return try texts.map { text in
            let (name, options) = try CommandLineArguments.named(text, flag: "--variant", form: "NAME=OPTIONS", reserved: reserved)
            guard seen.insert(name).inserted else { throw ValidationError("--variant name \(name) is given twice") }
            let arguments = options.split(separator: " ").map(String.init)
            do { return (name, try parse(arguments)) } catch {
                throw ValidationError("--variant \(name): \(message(for: error))")
            }
        }
    }
}
