/// The test-time losses as functions of the logits, with hand-written gradients.
public enum AdaptationLoss {
    /// Added to the variance over classes before the square root in the fixed-temperature
    /// rescaling, so that a constant logit row (K = 1) keeps a finite gradient.
    public static let varianceEpsilon = 1e-8
    /// Probabilities are floored here before a logarithm in the diversity terms (a class no sample
    /// predicts at all in Float32 would otherwise give 0·log 0 = NaN).
    public static let probabilityFloor = 1e-30

    /// Evaluates `objective` (or, with `labels`, mean cross-entropy plus the L∞ regulariser) on
    /// logits `z` (B×K). `zeroShot` is needed for the fixed temperature and the zero-shot anchor,
    /// `anchor` (K) for the running-anchor diversity term. Returns nil when the confidence filter keeps no sample.
    public static func evaluate<T: RAdaScalar>(
        _ objective: AdaptationObjective, logits z: [T], zeroShot: [T]?, maxDeviation: [T],
        batch: Int, classes: Int, labels: [Int]? = nil, anchor: [T]? = nil
    ) -> LossEvaluation<T>? {
        let k = classes
        precondition(z.count == batch * k, "logits have \(z.count) values, need \(batch)×\(k)")
        guard batch > 0 else { return nil }
        // Loss logits ẑ = c_b · z_b, with c_b = σ(z0_b)/σ(z_b) for the fixed temperature, else 1.
        var lossLogits = z
        var factors = [T](repeating: 1, count: batch)
        var means = [T](repeating: 0, count: batch)
        var variances = [T](repeating: 0, count: batch)
        if objective.fixedTemperature {
            guard let zeroShot else { preconditionFailure("the fixed temperature needs the zero-shot logits") }
            for b in 0..<batch {
                let (mean, variance) = meanAndVariance(z, row: b, count: k)
                let (_, zeroVariance) = meanAndVariance(zeroShot, row: b, count: k)
                let eps = T(varianceEpsilon)
                factors[b] = (zeroVariance + eps).squareRoot() / (variance + eps).squareRoot()
                means[b] = mean
                variances[b] = variance + eps
                for c in 0..<k { lossLogits[b * k + c] = factors[b] * z[b * k + c] }
            }
        }
        // Log-softmax, probabilities and entropies of the loss logits. Not `Kernels`' Float
        // softmax: the loss is generic over RAdaScalar (Double for the finite-difference checks)
        // and needs the log-probabilities themselves, in the log1p form below.
        var logP = lossLogits
        var p = lossLogits
        var entropies = [T](repeating: 0, count: batch)
        for b in 0..<batch {
            // log Σ exp ẑ = max + log1p(Σ_{k≠argmax} exp(ẑ_k − max)): the log1p keeps the
            // log-probability of a near-certain class accurate (log(1 + tiny) would round away
            // the tiny part, and with it the entropy of confident samples and its gradient).
            var top = 0
            for c in 1..<max(k, 1) where lossLogits[b * k + c] > lossLogits[b * k + top] { top = c }
            let maximum = lossLogits[b * k + top]
            var rest: T = 0
            for c in 0..<k where c != top { rest += T.exponential(lossLogits[b * k + c] - maximum) }
            let logRest = T.logarithmOnePlus(rest)
            var h: T = 0
            for c in 0..<k {
                let lp = (lossLogits[b * k + c] - maximum) - logRest
                logP[b * k + c] = lp
                p[b * k + c] = T.exponential(lp)
                h -= p[b * k + c] * lp
            }
            entropies[b] = h
        }
        var g = [T](repeating: 0, count: batch * k)
        var loss: T = 0
        var kept = batch
        let invB = 1 / T(batch)
        if let labels {
            precondition(labels.count == batch, "need one label per sample")
            for b in 0..<batch {
                let y = labels[b]
                precondition(y >= 0 && y < k, "label \(y) outside 0..<\(k)")
                loss -= logP[b * k + y] * invB
                for c in 0..<k { g[b * k + c] = (p[b * k + c] - (c == y ? 1 : 0)) * invB }
            }
        } else {
            var keep = [Bool](repeating: true, count: batch)
            if let e0 = objective.confidenceThreshold {
                let threshold = T(e0) * T.logarithm(T(k))
                for b in 0..<batch { keep[b] = entropies[b] < threshold }
                kept = keep.count(where: { $0 })
                if kept == 0 { return nil }
            }
            // Zero-shot entropy of each sample over log K, H(softmax(z0_b))/log K (the fixed
            // temperature maps the zero-shot logits to themselves): constants of the step.
            // H(q)/log K of a distribution q over the K classes.
            func normalisedEntropy(_ q: [T]) -> T {
                var h: T = 0
                for c in 0..<k where q[c] > 0 { h -= q[c] * T.logarithm(q[c]) }
                return h / T.logarithm(T(k))
            }
            var zeroShotUncertainty: [T]? = nil
            func zeroShotUncertainties() -> [T] {
                if let zeroShotUncertainty { return zeroShotUncertainty }
                guard let zeroShot else { preconditionFailure("the reliability weights and the uncertainty gate need the zero-shot logits") }
                let u = (0..<batch).map { b in
                    normalisedEntropy(meanSoftmax(Array(zeroShot[(b * k)..<((b + 1) * k)]), batch: 1, classes: k))
                }
                zeroShotUncertainty = u
                return u
            }
            // x^P for a fraction x in [0, 1] (floored before the logarithm).
            let floor = T(probabilityFloor)
            func power(_ x: T, _ p: Double) -> T { T.exponential(T(p) * T.logarithm(max(min(max(x, 0), 1), floor))) }
            let wEnt = T(objective.entropyWeight)
            if wEnt != 0 {
                let scale = wEnt / T(kept)
                // Reliability weights (1 − u_b)^R: a sample the zero-shot model is unsure of counts
                // less (EATA/SAR-style, but from the zero-shot logits, so the weights are constants
                // of the step and the gradient below is exact).
                let reliability = objective.entropyReliabilityPower != 0 && k > 1
                    ? zeroShotUncertainties().map { power(1 - $0, objective.entropyReliabilityPower) } : nil
                for b in 0..<batch where keep[b] {
                    let w = scale * (reliability?[b] ?? 1)
                    loss += w * entropies[b]
                    // ∂H/∂ẑ_k = −p_k (log p_k + H).
                    for c in 0..<k { g[b * k + c] -= w * p[b * k + c] * (logP[b * k + c] + entropies[b]) }
                }
            }
            // The batch's mean prediction p̄ and the terms linear in it through a reference r:
            // L = w Σ_k p̄_k r_k with r held fixed gives ∂L/∂ẑ_b = (w/B) p_b ⊙ (r − ⟨p_b, r⟩).
            var meanP = [T](repeating: 0, count: k)
            for b in 0..<batch { for c in 0..<k { meanP[c] += p[b * k + c] * invB } }
            func addMeanPredictionTerm(weight: T, reference r: [T]) {
                for c in 0..<k { loss += weight * meanP[c] * r[c] }
                for b in 0..<batch {
                    var inner: T = 0
                    for c in 0..<k { inner += p[b * k + c] * r[c] }
                    for c in 0..<k { g[b * k + c] += weight * invB * p[b * k + c] * (r[c] - inner) }
                }
            }
            // q̄ = mean_b softmax(z0_b), the zero-shot model's mean prediction on the batch (the
            // fixed temperature maps the zero-shot logits to themselves); fixed for the step.
            var zeroShotMean: [T]? = nil
            func zeroShotMeanPrediction() -> [T] {
                if let zeroShotMean { return zeroShotMean }
                guard let zeroShot else { preconditionFailure("the zero-shot anchor and the shift detector need the zero-shot logits") }
                let q = meanSoftmax(zeroShot, batch: batch, classes: k)
                zeroShotMean = q
                return q
            }
            var lambda = T(objective.diversityWeight)
            if lambda != 0 && objective.diversityShiftPower != 0 && k > 1 {
                // Label-shift detector: λ · (H(q̄)/log K)^P, a constant of the step (q̄ is).
                lambda *= power(normalisedEntropy(zeroShotMeanPrediction()), objective.diversityShiftPower)
            }
            if lambda != 0 && objective.diversityUncertaintyPower != 0 && k > 1 {
                // Uncertainty gate: λ · ū^Q, ū the zero-shot mean per-sample entropy over log K.
                let u = zeroShotUncertainties().reduce(0, +) * invB
                lambda *= power(u, objective.diversityUncertaintyPower)
            }
            if lambda != 0 {
                let mode = objective.diversityMode
                let useAnchor = mode == .runningAnchor || (mode != .batchMean && batch == 1)
                func logAnchor() -> [T]? {
                    guard let anchor else { return nil }
                    precondition(anchor.count == k, "anchor has \(anchor.count) values, need \(k)")
                    return anchor.map { T.logarithm(max($0, floor)) }
                }
                let logMeanP = meanP.map { T.logarithm(max($0, floor)) }
                if useAnchor {
                    // Anchor: L = λ Σ p̄ log m, m the stream's running mean prediction (fixed).
                    if let logM = logAnchor() { addMeanPredictionTerm(weight: lambda, reference: logM) }
                } else if mode == .estimatedPrior, let logM = logAnchor() {
                    // Estimated prior: L = λ KL(p̄ ‖ m), m fixed: r = log p̄ − log m.
                    addMeanPredictionTerm(weight: lambda, reference: (0..<k).map { logMeanP[$0] - logM[$0] })
                } else {
                    // Batch mean: L = λ Σ p̄ log p̄ = −λ H(p̄); r = log p̄ (the +1 of its
                    // derivative cancels through the softmax).
                    addMeanPredictionTerm(weight: lambda, reference: logMeanP)
                }
            }
            let mu = T(objective.zeroShotAnchorWeight)
            if mu != 0 {
                // L = μ Σ p̄ (log p̄ − log q̄) = μ KL(p̄ ‖ q̄): r = log p̄ − log q̄.
                let q = zeroShotMeanPrediction()
                addMeanPredictionTerm(weight: mu, reference: (0..<k).map { T.logarithm(max(meanP[$0], floor)) - T.logarithm(max(q[$0], floor)) })
            }
        }
        if objective.fixedTemperature {
            // ẑ = c z with c = σ0/σ(z), σ² = var(z) + ε:  ∂L/∂z = c ∂ẑ − c ⟨∂ẑ, z⟩ (z − μ) / (K σ²).
            for b in 0..<batch {
                var inner: T = 0
                for c in 0..<k { inner += g[b * k + c] * z[b * k + c] }
                let correction = factors[b] * inner / (T(k) * variances[b])
                for c in 0..<k {
                    g[b * k + c] = factors[b] * g[b * k + c] - correction * (z[b * k + c] - means[b])
                }
            }
        }
        var deviationGradient: [T]? = nil
        let alpha = T(objective.maskRegularization)
        if alpha != 0 {
            precondition(maxDeviation.count == batch, "need one mask deviation per sample")
            for b in 0..<batch { loss += alpha * invB * maxDeviation[b] }
            deviationGradient = [T](repeating: alpha * invB, count: batch)
        }
        return LossEvaluation(loss: loss, logitGradient: g, deviationGradient: deviationGradient, keptCount: kept, entropies: entropies)
    }

    /// The mean over the batch of each row's softmax (K values), generic like the loss (the
    /// zero-shot anchor's q̄ and its Double check take the same arithmetic).
    static func meanSoftmax<T: RAdaScalar>(_ x: [T], batch: Int, classes k: Int) -> [T] {
        var mean = [T](repeating: 0, count: k)
        for b in 0..<batch {
            var top = x[b * k]
            for c in 1..<max(k, 1) { top = max(top, x[b * k + c]) }
            var e = (0..<k).map { T.exponential(x[b * k + $0] - top) }
            let total = e.reduce(0, +)
            for c in 0..<k { e[c] /= total; mean[c] += e[c] / T(batch) }
        }
        return mean
    }

    /// Population mean and variance of one row.
    static func meanAndVariance<T: RAdaScalar>(_ x: [T], row: Int, count k: Int) -> (T, T) {
        var sum: T = 0
        for c in 0..<k { sum += x[row * k + c] }
        let mean = sum / T(k)
        var squares: T = 0
        for c in 0..<k {
            let delta = x[row * k + c] - mean
            squares += delta * delta
        }
        return (mean, squares / T(k))
    }
}
