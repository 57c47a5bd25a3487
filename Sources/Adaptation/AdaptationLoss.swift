/// The test-time losses as functions of the logits, with hand-written gradients.
public enum AdaptationLoss {
    /// Added to the variance over classes before the square root in the fixed-temperature
    /// rescaling, so that a constant logit row (K = 1) keeps a finite gradient.
    public static let varianceEpsilon = 1e-8
    /// Probabilities are floored here before a logarithm in the diversity terms (a class no sample
    /// predicts at all in Float32 would otherwise give 0·log 0 = NaN).
    public static let probabilityFloor = 1e-30

    /// Evaluates `objective` (or, with `labels`, mean cross-entropy plus the L∞ regulariser) on
    /// logits `z` (B×K). `zeroShot` is needed for the fixed temperature, `anchor` (K) for the
    /// running-anchor diversity term. Returns nil when the confidence filter keeps no sample.
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
        // Log-softmax, probabilities and entropies of the loss logits.
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
            let wEnt = T(objective.entropyWeight)
            if wEnt != 0 {
                let scale = wEnt / T(kept)
                for b in 0..<batch where keep[b] {
                    loss += scale * entropies[b]
                    // ∂H/∂ẑ_k = −p_k (log p_k + H).
                    for c in 0..<k { g[b * k + c] -= scale * p[b * k + c] * (logP[b * k + c] + entropies[b]) }
                }
            }
            let lambda = T(objective.diversityWeight)
            if lambda != 0 {
                let useAnchor = objective.diversityMode == .runningAnchor || (objective.diversityMode == .automatic && batch == 1)
                var meanP = [T](repeating: 0, count: k)
                for b in 0..<batch { for c in 0..<k { meanP[c] += p[b * k + c] * invB } }
                let floor = T(probabilityFloor)
                var reference: [T]? = nil
                if useAnchor {
                    if let anchor {
                        precondition(anchor.count == k, "anchor has \(anchor.count) values, need \(k)")
                        reference = anchor.map { T.logarithm(max($0, floor)) }
                    }
                } else {
                    reference = meanP.map { T.logarithm(max($0, floor)) }
                }
                if let logRef = reference {
                    // Batch mean: L = λ Σ p̄ log p̄ = −λ H(p̄). Anchor: L = λ Σ p̄ log m, m fixed.
                    // Either way ∂L/∂ẑ_b = (λ/B) p_b ⊙ (log r − ⟨p_b, log r⟩) (the +1 of the
                    // batch-mean derivative cancels through the softmax).
                    for c in 0..<k { loss += lambda * meanP[c] * logRef[c] }
                    for b in 0..<batch {
                        var inner: T = 0
                        for c in 0..<k { inner += p[b * k + c] * logRef[c] }
                        for c in 0..<k { g[b * k + c] += lambda * invB * p[b * k + c] * (logRef[c] - inner) }
                    }
                }
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
