import Foundation
import RadaNumerics

/// Which update rule, with PyTorch's semantics (`torch.optim.Adam`, `AdamW`, `SGD`).
public enum OptimizerKind: String, Codable, Sendable, Equatable {
    /// Adam; weight decay, if any, is added to the gradient (L2).
    case adam
    /// AdamW: decoupled weight decay `θ ← θ(1 − lr·wd)` before the Adam update.
    case adamW
    /// SGD with optional momentum (no dampening, no Nesterov) and L2 weight decay.
    case sgd
}

/// Optimiser settings. `learningRate == nil` picks `defaultLearningRate(logitScale:)`.
public struct OptimizerSettings: Codable, Sendable, Equatable {
    public var kind: OptimizerKind
    public var learningRate: Double?
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    /// SGD only.
    public var momentum: Double
    /// AdamW only: the images N one step's decay is stated for. nil: the decay is per step,
    /// `θ ← θ(1 − lr·wd)` whatever the batch (PyTorch's rule). With N set, a step on B images
    /// multiplies by `(1 − lr·wd)^(B/N)`, so the decay per image is the same at every batch size
    /// and equals the per-step rule's at B = N: at batch 1 the per-step rule forgets N× faster per
    /// image than at batch N. Adam's and SGD's L2 decay ignore it.
    public var decayReferenceImages: Int?
    /// Where the weight decay pulls the parameters: false (PyTorch's rule), towards 0; true,
    /// towards the stream's initial parameters θ₀ (AdamW: `θ ← θ₀ + (θ − θ₀)·factor`; Adam's and
    /// SGD's L2 term: `wd·(θ − θ₀)`). The mask's query, key and value maps start random; decayed
    /// towards 0 they lose that shape over a long stream, decayed towards θ₀ they keep it while
    /// the output map, which starts at 0, decays exactly as before.
    public var decayTowardsInitial: Bool
    /// AdamW only: the share of the decay the mask's query and key maps take (1: all of it,
    /// PyTorch's rule; 0: none). Decayed towards 0 with the rest, the query and key maps of a long
    /// stream shrink until neither gets a gradient (in a long stream's second round about two
    /// thirds of them were below FLT_MIN), and the mask's input-dependent attention fades into
    /// its biases; a smaller share keeps more of what the stream learnt there, while the value
    /// and output maps (the output starts at 0: zero-shot) are pulled back as before.
    public var queryKeyDecayShare: Double

    /// The served settings are `RAdaHyperparameters()`'s, which overrides the weight decay (20)
    /// and states it per 64 images; these defaults are the rest of them.
    public init(
        kind: OptimizerKind = .adamW, learningRate: Double? = nil, beta1: Double = 0.9, beta2: Double = 0.999,
        epsilon: Double = 1e-8, weightDecay: Double = 5, momentum: Double = 0, decayReferenceImages: Int? = nil,
        decayTowardsInitial: Bool = false, queryKeyDecayShare: Double = 1
    ) {
        self.kind = kind
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.decayReferenceImages = decayReferenceImages
        self.decayTowardsInitial = decayTowardsInitial
        self.queryKeyDecayShare = queryKeyDecayShare
    }

    private enum CodingKeys: String, CodingKey {
        case kind, learningRate, beta1, beta2, epsilon, weightDecay, momentum, decayReferenceImages, decayTowardsInitial, queryKeyDecayShare
    }

    /// Absent optional fields read as off (settings stored before they existed); off ones are
    /// not written, so settings without them encode as they did before.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(OptimizerKind.self, forKey: .kind)
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate)
        beta1 = try c.decode(Double.self, forKey: .beta1)
        beta2 = try c.decode(Double.self, forKey: .beta2)
        epsilon = try c.decode(Double.self, forKey: .epsilon)
        weightDecay = try c.decode(Double.self, forKey: .weightDecay)
        momentum = try c.decode(Double.self, forKey: .momentum)
        decayReferenceImages = try c.decodeIfPresent(Int.self, forKey: .decayReferenceImages)
        decayTowardsInitial = try c.decodeIfPresent(Bool.self, forKey: .decayTowardsInitial) ?? false
        queryKeyDecayShare = try c.decodeIfPresent(Double.self, forKey: .queryKeyDecayShare) ?? 1
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encodeIfPresent(learningRate, forKey: .learningRate)
        try c.encode(beta1, forKey: .beta1)
        try c.encode(beta2, forKey: .beta2)
        try c.encode(epsilon, forKey: .epsilon)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(momentum, forKey: .momentum)
        try c.encodeIfPresent(decayReferenceImages, forKey: .decayReferenceImages)
        if decayTowardsInitial { try c.encode(true, forKey: .decayTowardsInitial) }
        if queryKeyDecayShare != 1 { try c.encode(queryKeyDecayShare, forKey: .queryKeyDecayShare) }
    }

    /// The prototype's learning rates: 5e-3 at s ≈ 13 and about 3e-4 at s = 100, joined by a
    /// power law `5e-3 · (13/s)^1.38`.
    public static func defaultLearningRate(logitScale s: Double) -> Double {
        5e-3 * pow(13 / s, 1.379)
    }

    public func resolvedLearningRate(logitScale: Double) -> Double {
        learningRate ?? Self.defaultLearningRate(logitScale: logitScale)
    }

    /// AdamW's decoupled decay factor for a step on `images` images: `1 − lr·wd` per step, or
    /// `(1 − lr·wd)^(images/N)` with `decayReferenceImages` N. The power's base is floored at 0: a
    /// decay that would take the parameters past 0 in one reference step leaves them at 0 (a
    /// negative base has no real fractional power). `share` scales wd (a partial decay).
    public func decoupledDecayFactor(learningRate lr: Double, images: Int, share: Double = 1) -> Double {
        let perStep = 1 - lr * weightDecay * share
        guard let n = decayReferenceImages, images != n else { return perStep }
        return pow(max(perStep, 0), Double(images) / Double(n))
    }

    /// Moment buffers this rule keeps per parameter.
    public var momentCount: Int {
        switch kind {
        case .adam, .adamW: 2
        case .sgd: momentum != 0 ? 1 : 0
        }
    }
}

/// The optimiser's state for one parameter vector: the step count and its moment buffers
/// (Adam: `exp_avg`, `exp_avg_sq`; SGD: `momentum_buffer`).
public struct OptimizerState<T: RAdaScalar>: Sendable, Equatable {
    public var step: Int = 0
    public var firstMoment: [T]
    public var secondMoment: [T]

    public init(parameterCount: Int, settings: OptimizerSettings) {
        let moments = settings.momentCount
        firstMoment = [T](repeating: 0, count: moments >= 1 ? parameterCount : 0)
        secondMoment = [T](repeating: 0, count: moments >= 2 ? parameterCount : 0)
    }

    /// One update of `parameters` with `gradient`, exactly as PyTorch's single-tensor loops do
    /// (but for AdamW's decay with `decayReferenceImages` set). `images`: the stream images the
    /// step stands for (a request's batch, not its replay window), which that decay scales with.
    /// `centre`: θ₀, where the decay pulls with `decayTowardsInitial` (nil: towards 0).
    /// `partialDecay`: ascending, disjoint index ranges whose AdamW decay is `share` of the rest's
    /// (the others take all of it). `gradientShare` scales the step the gradient makes (Adam's
    /// normalised step, SGD's whole step with its L2 term) but not AdamW's decoupled decay, which
    /// follows `lr` alone; 1 is PyTorch's rule bit for bit.
    public mutating func apply(
        _ settings: OptimizerSettings, learningRate lr: Double, parameters: inout [T], gradient: [T], images: Int, centre: [T]? = nil,
        partialDecay: (ranges: [Range<Int>], share: Double)? = nil, gradientShare: Double = 1
    ) {
        precondition(parameters.count == gradient.count, "gradient and parameters differ in size")
        if let centre {
            // Decay towards θ₀: the same rule on θ − θ₀ (the update's other terms do not see θ).
            precondition(centre.count == parameters.count, "decay centre and parameters differ in size")
            var offset = parameters
            for i in offset.indices { offset[i] -= centre[i] }
            apply(settings, learningRate: lr, parameters: &offset, gradient: gradient, images: images, partialDecay: partialDecay, gradientShare: gradientShare)
            let bound = T(CheckpointBounds.maxParameterMagnitude)
            for i in offset.indices { parameters[i] = Swift.min(Swift.max(centre[i] + offset[i], -bound), bound) }
            return
        }
        // Every value a step writes is held within the bounds a checkpoint of it is checked
        // against (`CheckpointBounds`), so that a stream's own snapshots always load again. A
        // trained mask stays within a few units and the clamps never act; but moments within
        // their bounds can still be far from any Adam could reach (|m| = 10⁶ with v = 0: steps
        // of lr·m/ε), and an uploaded checkpoint holding them took the mask to 10¹⁰ in six steps.
        let parameterBound = T(CheckpointBounds.maxParameterMagnitude)
        let firstMomentBound = T(CheckpointBounds.maxParameterMagnitude), secondMomentBound = T(CheckpointBounds.maxSecondMoment)
        step = CheckpointBounds.advanced(step)
        let wd = T(settings.weightDecay)
        switch settings.kind {
        case .adam, .adamW:
            precondition(firstMoment.count == parameters.count && secondMoment.count == parameters.count, "Adam moments missing")
            let b1 = T(settings.beta1), b2 = T(settings.beta2)
            let biasCorrection1 = 1 - pow(settings.beta1, Double(step))
            let biasCorrection2Root = (1 - pow(settings.beta2, Double(step))).squareRoot()
            let stepSize = T(lr * gradientShare / biasCorrection1)
            let rootCorrection = T(biasCorrection2Root)
            let eps = T(settings.epsilon)
            let full = settings.kind == .adamW ? T(settings.decoupledDecayFactor(learningRate: lr, images: images)) : 1
            // (indices, their decoupled factor) in order, covering every parameter once.
            var segments = [(range: Range<Int>, decoupled: T)]()
            if let partialDecay, settings.kind == .adamW {
                let partial = T(settings.decoupledDecayFactor(learningRate: lr, images: images, share: partialDecay.share))
                var next = 0
                for range in partialDecay.ranges {
                    precondition(range.lowerBound >= next && range.upperBound <= parameters.count, "partial decay ranges must ascend within the parameters")
                    segments.append((next..<range.lowerBound, full))
                    segments.append((range, partial))
                    next = range.upperBound
                }
                segments.append((next..<parameters.count, full))
            } else {
                segments = [(parameters.indices, full)]
            }
            let coupled = settings.kind == .adam ? wd : 0
            let oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2
            parameters.withUnsafeMutableBufferPointer { theta in
                gradient.withUnsafeBufferPointer { grad in
                    firstMoment.withUnsafeMutableBufferPointer { m in
                        secondMoment.withUnsafeMutableBufferPointer { v in
                            for (range, decoupled) in segments {
                                // Float (every stream): the same loop in vector lanes.
                                if T.self == Float.self, !range.isEmpty {
                                    func float(_ x: T) -> Float { x as! Float }
                                    func pointer(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
                                        UnsafeMutableRawPointer(p + range.lowerBound).assumingMemoryBound(to: Float.self)
                                    }
                                    Kernels.adamUpdate(
                                        parameters: pointer(theta.baseAddress!), gradient: UnsafeRawPointer(grad.baseAddress! + range.lowerBound).assumingMemoryBound(to: Float.self),
                                        firstMoment: pointer(m.baseAddress!), secondMoment: pointer(v.baseAddress!), count: range.count,
                                        step: .init(decoupled: float(decoupled), coupled: float(coupled), oneMinusB1: float(oneMinusB1), b2: float(b2),
                                                    oneMinusB2: float(oneMinusB2), rootCorrection: float(rootCorrection), eps: float(eps), stepSize: float(stepSize),
                                                    parameterBound: float(parameterBound), firstMomentBound: float(firstMomentBound),
                                                    secondMomentBound: float(secondMomentBound)))
                                    continue
                                }
                                for i in range {
                                    if decoupled != 1 { theta[i] *= decoupled }
                                    var g = grad[i]
                                    if coupled != 0 { g += coupled * theta[i] }
                                    m[i] = Swift.min(Swift.max(m[i] + (g - m[i]) * oneMinusB1, -firstMomentBound), firstMomentBound)
                                    v[i] = Swift.min(v[i] * b2 + oneMinusB2 * g * g, secondMomentBound)
                                    let denominator = v[i].squareRoot() / rootCorrection + eps
                                    theta[i] = Swift.min(Swift.max(theta[i] - stepSize * m[i] / denominator, -parameterBound), parameterBound)
                                }
                            }
                        }
                    }
                }
            }
        case .sgd:
            let rate = T(lr * gradientShare), mu = T(settings.momentum)
            let first = step == 1
            parameters.withUnsafeMutableBufferPointer { theta in
                gradient.withUnsafeBufferPointer { grad in
                    firstMoment.withUnsafeMutableBufferPointer { buffer in
                        for i in 0..<theta.count {
                            var g = grad[i]
                            if wd != 0 { g += wd * theta[i] }
                            if mu != 0 {
                                buffer[i] = Swift.min(Swift.max(first ? g : mu * buffer[i] + g, -firstMomentBound), firstMomentBound)
                                g = buffer[i]
                            }
                            theta[i] = Swift.min(Swift.max(theta[i] - rate * g, -parameterBound), parameterBound)
                        }
                    }
                }
            }
        }
    }
}
