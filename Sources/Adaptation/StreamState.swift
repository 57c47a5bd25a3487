import Foundation
import RadaNumerics

/// Lifetime counters of a stream (kept across automatic resets, cleared by `reset()`).
public struct StreamCounters: Codable, Sendable, Equatable {
    public var samplesSeen = 0
    public var batchesSeen = 0
    /// Optimiser steps taken over the stream's life.
    public var optimizerSteps = 0
    /// Steps skipped because the confidence filter kept no sample.
    public var skippedSteps = 0
    public var automaticResets = 0
    public init() {}
}

/// Exponential moving averages of the stream's own predictions.
public struct RunningStatistics: Sendable, Equatable {
    /// Mean per-sample prediction entropy (nil before the first batch).
    public var entropy: Float?
    /// Mean predicted distribution over the K classes (uniform before the first batch).
    public var meanPrediction: [Float]

    init(classes: Int) {
        entropy = nil
        meanPrediction = [Float](repeating: 1 / Float(classes), count: classes)
    }
}

/// What `process` returns for one request batch.
public struct StepResult: Sendable, Equatable {
    /// The logits returned to the client (per the policy, before or after adapting), B×K.
    public var logits: Matrix
    /// Softmax of `logits`, B×K.
    public var probabilities: Matrix
    /// Arg-max class per sample.
    public var predictions: [Int]
    /// The loss of the last optimiser step (nil when no step was taken).
    public var loss: Float?
    public var stepsTaken: Int
    /// Samples that passed the confidence filter in the first step.
    public var keptSamples: Int
    /// True when collapse protection reset the mask after this batch.
    public var automaticReset: Bool
}

/// What a stream adapts, and what the memory of domains stores per domain: the mask, the
/// optimiser, the running statistics, the replay window, the running embedding mean and the class
/// Gaussians (not the counters, which count the stream's whole life).
public struct AdaptedParts: Sendable, Equatable {
    public var mask: RAdaMask<Float>
    public var optimizer: OptimizerState<Float>
    public var running: RunningStatistics
    public var replay: [Float]
    public var embeddingMean: RunningEmbeddingMean
    public var gaussians: ClassGaussians
}

/// The whole state of one client stream: its classes, the frozen inputs of the mask, the mask
/// itself, the optimiser, the counters and the running statistics. A value: copying a stream
/// copies its state; `reset()` returns it exactly to a freshly created stream.
public struct StreamState: Sendable, Equatable {
    public let labels: [String]
    /// Class embeddings, K×D, L2-normalised rows.
    public let textEmbeddings: Matrix
    public let logitScale: Float
    public let heads: Int
    /// Seed of the initial query/key/value maps.
    public let seed: UInt64
    public internal(set) var hyperparameters: RAdaHyperparameters
    public internal(set) var mask: RAdaMask<Float>
    public internal(set) var optimizer: OptimizerState<Float>
    public internal(set) var counters = StreamCounters()
    public internal(set) var running: RunningStatistics
    /// The replay window: the most recent image embeddings, oldest first, at most
    /// `hyperparameters.replayImages` rows of D floats (empty when the window is off).
    public internal(set) var replay: [Float] = []
    /// The running mean of the image embeddings adapted on (`hyperparameters.centring`); empty
    /// while centring is off, at creation and after a reset.
    public internal(set) var embeddingMean: RunningEmbeddingMean
    /// The Gaussian class model fused with the mask (`hyperparameters.gaussians`); empty while
    /// the fusion is off, at creation and after a reset.
    public internal(set) var gaussians = ClassGaussians()
    /// The memory of domains (`hyperparameters.domainMemory`): the stored states of the domains
    /// met and the current one's key; empty while it is off, at creation and after a reset.
    public internal(set) var domains = DomainBank<AdaptedParts>()
    /// The initial mask's parameters, where the weight decay pulls with
    /// `optimizer.decayTowardsInitial` (nil when that is off). Derived from `seed`: not stored in
    /// checkpoints.
    private(set) var decayCentre: [Float]?
    private(set) var network: MaskNetwork<Float>

    public var classes: Int { labels.count }
    public var dimension: Int { textEmbeddings.cols }

    /// A new stream at its base state (mask exactly 1, zero-shot predictions).
    public init(
        labels: [String], textEmbeddings: Matrix, logitScale: Float, heads: Int = 8,
        hyperparameters: RAdaHyperparameters = RAdaHyperparameters(), seed: UInt64 = 0
    ) throws {
        guard !labels.isEmpty else { throw AdaptationError.invalidShape("a stream needs at least one class label") }
        guard textEmbeddings.rows == labels.count else {
            throw AdaptationError.invalidShape("\(labels.count) labels but \(textEmbeddings.rows) class embeddings")
        }
        guard textEmbeddings.storage.allSatisfy(\.isFinite) else { throw AdaptationError.invalidShape("class embeddings contain NaN or infinity") }
        try hyperparameters.validate()
        var network = try MaskNetwork<Float>(
            text: textEmbeddings.storage, classes: labels.count, dimension: textEmbeddings.cols, heads: heads,
            logitScale: logitScale, temperature: Float(hyperparameters.attentionTemperature))
        network.chunkRows = hyperparameters.chunkRows
        self.labels = labels
        self.textEmbeddings = textEmbeddings
        self.logitScale = logitScale
        self.heads = heads
        self.seed = seed
        self.hyperparameters = hyperparameters
        self.network = network
        self.mask = RAdaMask(dimension: textEmbeddings.cols, seed: seed)
        self.optimizer = OptimizerState(parameterCount: mask.values.count, settings: hyperparameters.optimizer)
        self.running = RunningStatistics(classes: labels.count)
        self.embeddingMean = RunningEmbeddingMean(dimension: textEmbeddings.cols)
        self.decayCentre = hyperparameters.optimizer.decayTowardsInitial ? mask.values : nil
    }

    /// Returns to the base state: identity mask, fresh optimiser, counters and statistics cleared.
    public mutating func reset() {
        resetAdaptation()
        counters = StreamCounters()
        domains = DomainBank()
    }

    /// The adapted state, as the memory of domains stores and restores it.
    public internal(set) var adaptedParts: AdaptedParts {
        get { AdaptedParts(mask: mask, optimizer: optimizer, running: running, replay: replay, embeddingMean: embeddingMean, gaussians: gaussians) }
        set {
            mask = newValue.mask
            optimizer = newValue.optimizer
            running = newValue.running
            replay = newValue.replay
            embeddingMean = newValue.embeddingMean
            gaussians = newValue.gaussians
        }
    }

    /// Mask, optimiser and running statistics back to the base state; counters kept.
    private mutating func resetAdaptation() {
        mask = RAdaMask(dimension: dimension, seed: seed)
        optimizer = OptimizerState(parameterCount: mask.values.count, settings: hyperparameters.optimizer)
        running = RunningStatistics(classes: classes)
        replay = []
        embeddingMean = RunningEmbeddingMean(dimension: dimension)
        gaussians = ClassGaussians()
    }

    /// Replaces the hyper-parameters; a change of optimiser kind restarts the optimiser state.
    public mutating func setHyperparameters(_ new: RAdaHyperparameters) throws {
        try new.validate()
        var network = try MaskNetwork<Float>(
            text: textEmbeddings.storage, classes: classes, dimension: dimension, heads: heads,
            logitScale: logitScale, temperature: Float(new.attentionTemperature))
        network.chunkRows = new.chunkRows
        if new.optimizer.momentCount != hyperparameters.optimizer.momentCount || new.optimizer.kind != hyperparameters.optimizer.kind {
            optimizer = OptimizerState(parameterCount: mask.values.count, settings: new.optimizer)
        }
        self.network = network
        // The discriminant depends on the fusion's settings; the statistics do not.
        if new.gaussians != hyperparameters.gaussians { gaussians.invalidate() }
        // Stored states were made under the old settings (their optimiser's moments, their
        // statistics): any change starts the memory of domains empty.
        if new != hyperparameters { domains = DomainBank() }
        hyperparameters = new
        decayCentre = new.optimizer.decayTowardsInitial ? RAdaMask<Float>(dimension: dimension, seed: seed).values : nil
        if !new.centring.isOn { embeddingMean = RunningEmbeddingMean(dimension: dimension) }
        if !new.centring.whitens { embeddingMean.dropWhitening() }
        if !new.gaussians.isOn { gaussians = ClassGaussians() }
        let keep = min(replay.count, new.replayImages * dimension)
        replay.removeFirst(replay.count - keep)
    }

    /// Runs a stream's numeric work: subnormals flushed (Docs/architecture.md, "Subnormal
    /// numbers") and every BLAS product on the caller-thread library, so that none of it waits on,
    /// wakes or spins the threaded library's workers (the backbone's), and its bits never depend
    /// on that library's thread count.
    private static func numerics<R>(_ body: () throws -> R) rethrows -> R {
        try Subnormals.flushed { try BLAS.onCallerThread(body) }
    }

    /// Zero-shot CLIP logits `s · f · tᵀ` (B×K), bit-identical to `classify` at the base state.
    public func zeroShotLogits(_ features: Matrix) throws -> Matrix {
        try validate(features)
        return Self.numerics {
            Matrix(rows: features.rows, cols: classes, storage: network.zeroShotLogits(features: features.storage, batch: features.rows))
        }
    }

    /// Logits with the current mask (B×K), on the centred embeddings when centring is on, with
    /// the Gaussian class model's adjustment when the fusion is on; does not change the stream.
    public func classify(_ features: Matrix) throws -> Matrix {
        try validate(features)
        return Self.numerics { classifyFlushed(features) }
    }

    private func classifyFlushed(_ features: Matrix) -> Matrix {
        let rawEntropies = rawZeroShotEntropies(features.storage, batch: features.rows)
        let gate = centringGate(batch: features.rows, rawEntropies: rawEntropies)
        let f = embeddingMean.centred(features.storage, batch: features.rows, settings: hyperparameters.centring, gate: gate)
        var logits = network.forward(mask: mask, features: f, batch: features.rows).logits
        if hyperparameters.gaussians.isOn,
           let adjustment = gaussians.adjustmentWithoutCaching(f, batch: features.rows, text: textEmbeddings, settings: hyperparameters.gaussians, gate: gate) {
            for i in logits.indices { logits[i] += adjustment[i] }
        }
        return Matrix(rows: features.rows, cols: classes, storage: corrected(logits, batch: features.rows, gate: centringGate, rawEntropies: rawEntropies))
    }

    /// The embeddings the mask sees for `features` now (B×D): centred, and whitened, by the
    /// stream's running statistics while centring is on and its gate open, `features` itself
    /// otherwise. Does not change the stream (a benchmark's Gaussian class model reads the same
    /// embeddings as the mask).
    public func centredFeatures(_ features: Matrix) throws -> Matrix {
        try validate(features)
        return Self.numerics {
            Matrix(rows: features.rows, cols: dimension,
                   storage: embeddingMean.centred(features.storage, batch: features.rows, settings: hyperparameters.centring))
        }
    }

    /// g ∈ [0, 1], centring's uncertainty gate now (0 while centring is off or no image has been
    /// seen): how far the stream's running zero-shot entropy says its domain is a shifted one.
    public var centringGate: Double {
        let settings = hyperparameters.centring
        guard settings.isOn, !embeddingMean.isEmpty else { return 0 }
        return settings.gate(entropy: embeddingMean.entropy)
    }

    /// g for a batch: `centringGate`, shut further by the batch's own mean zero-shot entropy while
    /// centring gates batches of its size (`EmbeddingCentring.batchGateMinimum`).
    private func centringGate(batch: Int, rawEntropies: () -> [Float]) -> Double {
        let settings = hyperparameters.centring
        guard settings.isOn, !embeddingMean.isEmpty else { return 0 }
        return settings.gate(running: embeddingMean.entropy, batch: batch) { normalisedMean(rawEntropies()) }
    }

    /// The mean of per-image entropies (nats) as a fraction of log K.
    private func normalisedMean(_ entropies: [Float]) -> Double {
        entropies.reduce(0.0) { $0 + Double($1) } / Double(max(entropies.count, 1)) / Foundation.log(Double(max(classes, 2)))
    }

    /// The weight the class Gaussians' scores get in the next request: min(ρ·mean c, η) × the
    /// centring gate (0 while the fusion is off or the gate shut).
    public var gaussianWeight: Double {
        let settings = hyperparameters.gaussians
        guard settings.isOn else { return 0 }
        return settings.weight(meanCount: gaussians.meanCount(classes: classes)) * centringGate
    }

    /// Handles one request batch per the policy: predictions plus (when `adapt`) the optimiser
    /// steps, the running statistics and collapse protection. With `labels`, the steps minimise
    /// cross-entropy instead of the unlabelled objective (the benchmark's oracle).
    ///
    /// `onPrediction` receives the B×K probabilities the moment they are final, with the optimiser
    /// steps taken before them: under predict-then-adapt before the steps run (nil steps when
    /// adapting, so a server can answer without waiting for them), under the other policies
    /// after. They equal `StepResult.probabilities` exactly.
    public mutating func process(
        _ features: Matrix, adapt: Bool = true, labels: [Int]? = nil,
        onPrediction: (_ probabilities: Matrix, _ stepsBefore: Int?) -> Void = { _, _ in }
    ) throws -> StepResult {
        try validate(features)
        if let labels {
            guard labels.count == features.rows else { throw AdaptationError.invalidShape("\(labels.count) labels for \(features.rows) samples") }
            guard labels.allSatisfy({ $0 >= 0 && $0 < classes }) else { throw AdaptationError.invalidShape("labels must lie in 0..<\(classes)") }
        }
        return Self.numerics { processValidated(features, adapt: adapt, labels: labels, onPrediction: onPrediction) }
    }

    private mutating func processValidated(
        _ features: Matrix, adapt: Bool, labels: [Int]?, onPrediction: (_ probabilities: Matrix, _ stepsBefore: Int?) -> Void
    ) -> StepResult {
        let batch = features.rows
        // A request the stream adapts on first tells the memory of domains where it comes from:
        // a returning domain's state answers and adapts on it.
        let memory = appliedDomainMemory
        if adapt && memory.isOn {
            var parts = adaptedParts
            if domains.observe(features.storage, rows: batch, dimension: dimension, classEmbeddings: textEmbeddings.storage,
                               classes: classes, settings: memory, parts: &parts) {
                adaptedParts = parts
            }
        }
        let rawEntropies = rawZeroShotEntropies(features.storage, batch: batch)
        // The mask, the zero-shot anchor, the replay window and the class Gaussians all see the
        // centred embeddings; the running mean takes the raw ones, after the prediction
        // (predict-then-adapt stays causal: a batch is never centred by its own mean).
        let runningGate = centringGate, gate = centringGate(batch: batch, rawEntropies: rawEntropies)
        let f = embeddingMean.centred(features.storage, batch: batch, settings: hyperparameters.centring, gate: gate)
        // The steps' inputs: the batch, or the replay window that ends with it (unlabelled steps
        // on a batch smaller than the window).
        var stepFeatures = f, stepBatch = batch
        if adapt && labels == nil && hyperparameters.replayImages > 0 {
            replay += f
            replay.removeFirst(max(0, replay.count - hyperparameters.replayImages * dimension))
            if replay.count > f.count {
                stepFeatures = replay
                stepBatch = replay.count / dimension
            }
        }
        // Only the steps' objective needs the zero-shot logits: computed after the prediction has
        // been handed over (at K = 1000 they cost as much as the prediction itself).
        func zeroShot() -> [Float]? {
            hyperparameters.objective.needsZeroShotLogits && adapt ? network.zeroShotLogits(features: stepFeatures, batch: stepBatch) : nil
        }
        var outcome = StepOutcome()
        // The mask's own logits (what its running statistics follow) and the fused ones (the
        // mask's plus the class Gaussians' adjustment while the fusion is on and its gate open:
        // what the Gaussians learn from).
        let maskLogits: [Float], logits: [Float]
        func fused(_ own: [Float]) -> [Float] {
            guard hyperparameters.gaussians.isOn,
                  let adjustment = gaussians.adjustment(f, batch: batch, text: textEmbeddings, settings: hyperparameters.gaussians, gate: gate)
            else { return own }
            var out = own
            for i in out.indices { out[i] += adjustment[i] }
            return out
        }
        // What the client gets: the fused logits, corrected for the batch's label shift.
        let answer: [Float]
        let probabilities: [Float], entropies: [Float]
        switch hyperparameters.policy {
        case .predictThenAdapt:
            let reuse = adapt && stepBatch == batch
            let prediction = network.forward(mask: mask, features: f, batch: batch, retainLastChunk: reuse)
            maskLogits = prediction.result.logits
            logits = fused(maskLogits)
            answer = corrected(logits, batch: batch, gate: runningGate, rawEntropies: rawEntropies)
            (probabilities, entropies) = Self.softmaxRows(answer, batch: batch, classes: classes)
            onPrediction(Matrix(rows: batch, cols: classes, storage: probabilities), adapt ? nil : 0)
            if adapt {
                outcome = adaptationSteps(
                    stepFeatures, batch: stepBatch, images: batch, zeroShot: zeroShot(), labels: labels, first: reuse ? prediction : nil)
            }
        case .adaptThenPredict, .episodic:
            if adapt {
                outcome = adaptationSteps(
                    stepFeatures, batch: stepBatch, images: batch, zeroShot: zeroShot(), labels: labels, first: nil)
            }
            maskLogits = network.forward(mask: mask, features: f, batch: batch).logits
            logits = fused(maskLogits)
            answer = corrected(logits, batch: batch, gate: runningGate, rawEntropies: rawEntropies)
            (probabilities, entropies) = Self.softmaxRows(answer, batch: batch, classes: classes)
            onPrediction(Matrix(rows: batch, cols: classes, storage: probabilities), outcome.steps)
        }
        // (The answer is the mask's own logits unless the Gaussians or the correction changed them.)
        let (maskProbabilities, maskEntropies) = answer == maskLogits
            ? (probabilities, entropies) : Self.softmaxRows(maskLogits, batch: batch, classes: classes)
        updateRunning(probabilities: maskProbabilities, entropies: maskEntropies, batch: batch)
        if adapt && hyperparameters.gaussians.isOn && hyperparameters.policy != .episodic {
            // Learnt from the fused prediction (balanced by the running class prior), or from the
            // labels when the caller has them (the benchmark's oracle).
            let targets: [Double]
            if let labels {
                var hard = [Double](repeating: 0, count: batch * classes)
                for (b, label) in labels.enumerated() { hard[b * classes + label] = 1 }
                targets = hard
            } else {
                targets = gaussians.balancedLabels(logits: logits, batch: batch, classes: classes, settings: hyperparameters.gaussians)
            }
            gaussians.learn(f, labels: targets, batch: batch, classes: classes, settings: hyperparameters.gaussians)
            // The next batch's discriminant, formed after this batch's answer rather than before
            // the next one's: in a server the next request is embedded while this stream's turn
            // is still held, so the work (3 ms at K = 10, 25 ms at K = 1000 for D = 512) leaves
            // the answer's path. Only while the gate lets the scores through, as for this batch.
            if gate > 0 { gaussians.refresh(text: textEmbeddings, settings: hyperparameters.gaussians) }
        }
        if adapt && hyperparameters.centring.isOn && hyperparameters.policy != .episodic {
            // The gate's evidence: zero-shot CLIP's own uncertainty on the raw images.
            embeddingMean.add(features.storage, entropies: rawEntropies(), classes: classes, settings: hyperparameters.centring)
        }
        counters.samplesSeen = CheckpointBounds.advanced(counters.samplesSeen, by: batch)
        counters.batchesSeen = CheckpointBounds.advanced(counters.batchesSeen)
        var automaticReset = false
        if hyperparameters.policy == .episodic {
            mask = RAdaMask(dimension: dimension, seed: seed)
            optimizer = OptimizerState(parameterCount: mask.values.count, settings: hyperparameters.optimizer)
        } else if adapt && collapseDetected() {
            resetAdaptation()
            counters.automaticResets = CheckpointBounds.advanced(counters.automaticResets)
            automaticReset = true
        }
        var predictions = [Int](repeating: 0, count: batch)
        for b in 0..<batch {
            var best = 0
            for k in 1..<max(classes, 1) where answer[b * classes + k] > answer[b * classes + best] { best = k }
            predictions[b] = best
        }
        return StepResult(
            logits: Matrix(rows: batch, cols: classes, storage: answer),
            probabilities: Matrix(rows: batch, cols: classes, storage: probabilities), predictions: predictions,
            loss: outcome.loss, stepsTaken: outcome.steps, keptSamples: outcome.kept, automaticReset: automaticReset)
    }

    /// `logits` plus the batch's label-shift correction (`hyperparameters.priorCorrection`), or
    /// `logits` itself where it does not apply (or centring, while on, has seen nothing yet).
    /// `rawEntropies`: zero-shot CLIP's entropies on the batch's raw images, whose mean gates it
    /// as well as the running `gate`.
    private func corrected(_ logits: [Float], batch: Int, gate: Double, rawEntropies: () -> [Float]) -> [Float] {
        let settings = hyperparameters.priorCorrection
        // Before centring has seen an image its gate says nothing about the domain: a batch whose
        // histogram is skewed may be a corruption's bias as well as a run of classes.
        let known = !hyperparameters.centring.isOn || !embeddingMean.isEmpty
        guard settings.isOn, batch >= settings.minimumBatch, known, gate < 1 else { return logits }
        // The running gate lags a change of domain by a few batches (a continual stream's first
        // batches of fog after an easy domain): the batch's own zero-shot entropy shuts the
        // correction at once.
        let batchGate = settings.batchGate(entropy: normalisedMean(rawEntropies()))
        guard let terms = settings.terms(logits: logits, batch: batch, classes: classes, gate: max(gate, batchGate)) else { return logits }
        var out = logits
        for b in 0..<batch { for c in 0..<classes { out[b * classes + c] += terms[c] } }
        return out
    }

    /// Zero-shot CLIP's per-image entropies (nats) on a batch's raw embeddings (B×D), computed on
    /// the first call only: the evidence of centring's gates and of the correction's batch gate,
    /// at most one B×K×D product per request, none where nothing reads them. The closure holds
    /// its own copy of the network, so the stream stays free to change while it lives.
    private func rawZeroShotEntropies(_ raw: [Float], batch: Int) -> () -> [Float] {
        let network = network, classes = classes
        var cache: [Float]?
        return {
            if let cache { return cache }
            let entropies = Self.softmaxRows(network.zeroShotLogits(features: raw, batch: batch), batch: batch, classes: classes).1
            cache = entropies
            return entropies
        }
    }

    private struct StepOutcome {
        var loss: Float? = nil
        var steps = 0
        var kept = 0
    }

    /// `first`: the prediction's forward pass on the current mask, reused by the first step.
    /// `images`: the request's new images (`batch` may be the larger replay window), which
    /// AdamW's per-image decay counts.
    private mutating func adaptationSteps(
        _ f: [Float], batch: Int, images: Int, zeroShot: [Float]?, labels: [Int]?,
        first: (result: MaskForward<Float>, retained: RetainedChunk<Float>?)?
    ) -> StepOutcome {
        var outcome = StepOutcome()
        // Labelled steps (the benchmark's oracle) are not gated: the gate guards the unlabelled
        // objective, which only sharpens zero-shot's mistakes where it is already sure.
        let gate = labels == nil ? hyperparameters.appliedStepGate : StepGate()
        let gateScale = gate.scale(runningEntropy: embeddingMean.isEmpty ? nil : embeddingMean.entropy)
        // Behind `decayWhileShut` the gate scales the gradient's step alone; otherwise the rate.
        let lr = hyperparameters.optimizer.resolvedLearningRate(logitScale: Double(logitScale)) * (gate.decayWhileShut ? 1 : gateScale)
        let gradientShare = gate.decayWhileShut ? gateScale : 1
        var prepared = first
        for step in 0..<hyperparameters.stepsPerBatch {
            let (current, retained) = prepared ?? network.forward(mask: mask, features: f, batch: batch, retainLastChunk: true)
            prepared = nil
            guard let evaluation = AdaptationLoss.evaluate(
                hyperparameters.objective, logits: current.logits, zeroShot: zeroShot, maxDeviation: current.maxDeviation,
                batch: batch, classes: classes, labels: labels, anchor: running.meanPrediction)
            else {
                counters.skippedSteps = CheckpointBounds.advanced(counters.skippedSteps)
                break
            }
            if step == 0 { outcome.kept = evaluation.keptCount }
            let gradient = network.gradient(
                mask: mask, features: f, batch: batch, logitGradient: evaluation.logitGradient,
                deviationGradient: evaluation.deviationGradient, retained: retained)
            optimizer.apply(hyperparameters.optimizer, learningRate: lr, parameters: &mask.values, gradient: gradient, images: images, centre: decayCentre,
                partialDecay: queryKeyDecay, gradientShare: gradientShare)
            counters.optimizerSteps = CheckpointBounds.advanced(counters.optimizerSteps)
            outcome.steps += 1
            outcome.loss = evaluation.loss
        }
        return outcome
    }

    /// The query and key maps' share of the decay, where it is not all of it.
    private var queryKeyDecay: (ranges: [Range<Int>], share: Double)? {
        let share = hyperparameters.optimizer.queryKeyDecayShare
        return share == 1 ? nil : (RAdaMask<Float>.queryKeyRanges(dimension: dimension), share)
    }

    private mutating func updateRunning(probabilities: [Float], entropies: [Float], batch: Int) {
        let momentum = Float(hyperparameters.runningMomentum)
        let meanEntropy = entropies.reduce(0, +) / Float(batch)
        running.entropy = running.entropy.map { momentum * $0 + (1 - momentum) * meanEntropy } ?? meanEntropy
        for k in 0..<classes {
            var mean: Float = 0
            for b in 0..<batch { mean += probabilities[b * classes + k] }
            mean /= Float(batch)
            running.meanPrediction[k] = momentum * running.meanPrediction[k] + (1 - momentum) * mean
        }
    }

    private func collapseDetected() -> Bool {
        let logK = Float(Foundation.log(Double(classes)))
        let rules = hyperparameters.collapse
        if let n = rules.resetEveryOptimizerSteps, optimizer.step >= n { return true }
        if let fraction = rules.entropyResetFraction, let entropy = running.entropy, entropy < Float(fraction) * logK { return true }
        if let fraction = rules.histogramEntropyResetFraction {
            if Kernels.entropy(probabilities: running.meanPrediction) < Float(fraction) * logK { return true }
        }
        return false
    }

    /// Row softmax and entropies of raw logits (the client's probabilities).
    static func softmaxRows(_ logits: [Float], batch: Int, classes k: Int) -> ([Float], [Float]) {
        var p = logits
        var entropies = [Float](repeating: 0, count: batch)
        p.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: batch, cols: k) }
        for b in 0..<batch { entropies[b] = Kernels.entropy(probabilities: p[(b * k)..<((b + 1) * k)]) }
        return (p, entropies)
    }

    private func validate(_ features: Matrix) throws {
        guard features.cols == dimension else {
            throw AdaptationError.invalidShape("image embeddings have \(features.cols) columns, the stream's classes have D = \(dimension)")
        }
        guard features.rows >= 1 else { throw AdaptationError.invalidShape("a batch needs at least one image embedding") }
        guard features.storage.allSatisfy(\.isFinite) else { throw AdaptationError.invalidShape("image embeddings contain NaN or infinity") }
    }

    /// Bytes this stream holds: parameters, optimiser moments, the decay's centre (when on), the
    /// running embedding mean and, with whitening on, its D×D Float64 second moment and Float32
    /// W (from creation, before they are filled, like the replay window), class
    /// embeddings (and their scaled copy), running statistics, the replay window (at its full size),
    /// the class Gaussians' statistics and discriminant (while the fusion is on, at their full
    /// size), labels, and the memory of domains' states as stored (each as large as the adapted
    /// state, so the count grows at shifts up to `appliedDomainMemory.capacity`, and a key per
    /// stored state and the current one, K×D floats each with the per-class key). Transient per-step workspace is not included; see `workspaceBytes(batch:)`.
    public var memoryBytes: Int {
        let floats = 2 * textEmbeddings.storage.count + (hyperparameters.optimizer.decayTowardsInitial ? mask.values.count : 0)
        let memory = appliedDomainMemory
        // The memory of domains counts what it holds, which grows at shifts up to its capacity.
        let stored = domains.entries.count
        let keys = memory.isOn ? (stored + 1) * memory.groups(classes: classes) * dimension * MemoryLayout<Float>.stride : 0
        return floats * MemoryLayout<Float>.stride + (1 + stored) * hyperparameters.adaptedStateBytes(classes: classes, dimension: dimension)
            + keys + labels.reduce(0) { $0 + $1.utf8.count + 16 } + 256
    }

    /// The memory of domains this stream runs (`RAdaHyperparameters.appliedDomainMemory`).
    public var appliedDomainMemory: DomainMemory {
        hyperparameters.appliedDomainMemory(classes: classes, dimension: dimension)
    }

    /// Floating-point operations of the optimiser steps one request of `batch` images takes (the
    /// replay window's rows included; 0 without steps), of the class Gaussians' update while the
    /// fusion is on, and of what centring (zero-shot's B×K×D product for the gates, whitening's
    /// B×D² product, and its refresh of W once per `whiteningRefreshImages` images, B/R of one),
    /// the prior correction (at most its EM's iterations of 3·B·K) and the memory of domains (its
    /// own B×K×D grouping and the key distances) add: what schedulers rank requests by.
    /// The refresh is counted at its steady rate (a young stream refreshes more often): at
    /// D = 512 one is 5.6 GFLOP, so R = 1 makes every request heavy work, and the default
    /// R = 256 adds 22 MFLOP an image.
    public func stepFLOPs(batch: Int) -> Double {
        let rows = max(batch, hyperparameters.replayImages)
        let perStep = StepCost.flops(batch: max(1, rows), classes: classes, dimension: dimension, chunkRows: hyperparameters.chunkRows)
        let gaussians = hyperparameters.gaussians.isOn ? ClassGaussians.flops(batch: batch, classes: classes, dimension: dimension) : 0
        let (b, k, d) = (Double(batch), Double(classes), Double(dimension))
        let whitening = hyperparameters.centring.whitens
            ? 2 * b * d * d + b / max(1, hyperparameters.centring.whiteningRefreshImages) * RunningEmbeddingMean.whitenerRefreshFLOPs(dimension: dimension)
            : 0
        let centring = hyperparameters.centring.isOn ? 2 * b * k * d + whitening : 0
        let correction = hyperparameters.priorCorrection.isOn && batch >= hyperparameters.priorCorrection.minimumBatch
            ? Double(PriorCorrection.iterations) * 3 * b * k : 0
        let memory = DomainBank<AdaptedParts>.flops(batch: batch, classes: classes, dimension: dimension, settings: appliedDomainMemory)
        return Double(hyperparameters.stepsPerBatch) * perStep + gaussians + centring + correction + memory
    }

    /// Peak scratch bytes of one adaptation step on `batch` images (independent of the batch size
    /// once a chunk holds one image).
    public func workspaceBytes(batch: Int) -> Int {
        // A step on a batch smaller than the replay window runs on the whole window.
        let rows = max(batch, hyperparameters.replayImages)
        let gaussians = hyperparameters.gaussians.isOn ? ClassGaussians.workspaceBytes(batch: batch, classes: classes, dimension: dimension) : 0
        return max(network.workspaceBytes(batch: rows, backward: true) + (rows + classes) * dimension * 2 * MemoryLayout<Float>.stride, gaussians)
    }
}
