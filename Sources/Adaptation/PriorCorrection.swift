import Foundation
import RadaNumerics

/// Label-shift correction of a batch's answer (Docs/rada.md, "Prior correction"): the batch's own
/// class prior π̂, estimated by EM from its predictions (Saerens, Latinne and Decaestecker 2002),
/// re-weights them, z' = z + α·log(K·π̂), where the batch reads as a run of few classes and the
/// domain as one zero-shot knows. Stateless; it changes only the answer, never what the mask or
/// the class Gaussians learn from. `PriorCorrection()` itself is off.
public struct PriorCorrection: Codable, Sendable, Equatable {
    /// a: the correction's strength (0: off).
    public var strength: Double = 0
    /// c₀ and w: with c = H(q̄)/log K the coverage of the batch's mean prediction q̄, the
    /// correction applies fully below c₀ and not at all above c₀ + w (linear between).
    public var coverageThreshold: Double = 0.6
    public var coverageRamp: Double = 0.2
    /// Batches smaller than this are answered uncorrected (one image's EM prior is its own
    /// prediction: it would only sharpen it).
    public var minimumBatch: Int = 8
    /// u_b and w_b: the batch's own gate, g_b = clamp((ū_b − u_b)/w_b, 0, 1) of its mean zero-shot
    /// entropy ū_b (a fraction of log K), as centring's running gate but without its lag.
    public var batchEntropyThreshold: Double = 0.18
    public var batchEntropyRamp: Double = 0.05

    public init(
        strength: Double = 0, coverageThreshold: Double = 0.6, coverageRamp: Double = 0.2, minimumBatch: Int = 8,
        batchEntropyThreshold: Double = 0.18, batchEntropyRamp: Double = 0.05
    ) {
        self.strength = strength
        self.coverageThreshold = coverageThreshold
        self.coverageRamp = coverageRamp
        self.minimumBatch = minimumBatch
        self.batchEntropyThreshold = batchEntropyThreshold
        self.batchEntropyRamp = batchEntropyRamp
    }

    /// g_b for a batch's mean zero-shot entropy (a fraction of log K).
    func batchGate(entropy u: Double) -> Double { Ramp.rising(u, threshold: batchEntropyThreshold, width: batchEntropyRamp) }

    public var isOn: Bool { strength > 0 }

    /// EM's iterations at most, and the change of π̂ (max norm) that ends them sooner.
    static let iterations = 100
    static let tolerance = 1e-7
    /// π̂ is floored here before its log: a class the batch seems not to hold is pushed down by at
    /// most log(K·10⁻⁴), not to −∞.
    static let floor = 1e-4

    /// The K terms α·log(K·π̂) added to every row of `logits` (B×K), or nil when α is 0 (off, a
    /// small batch, a batch that covers the classes, or `gate` 1: a domain zero-shot is unsure of,
    /// where a skewed histogram is the corruption's bias, not the stream's classes).
    func terms(logits: [Float], batch: Int, classes k: Int, gate: Double) -> [Float]? {
        guard isOn, batch >= minimumBatch, k > 1, gate < 1 else { return nil }
        var p = [Double](repeating: 0, count: batch * k)
        var mean = [Double](repeating: 0, count: k)
        for b in 0..<batch {
            let row = Kernels.softmax(logits: logits[(b * k)..<((b + 1) * k)])
            for c in 0..<k {
                p[b * k + c] = row[c]
                mean[c] += row[c] / Double(batch)
            }
        }
        let coverage = Coverage.of(meanPrediction: mean)
        let share = 1 - Ramp.rising(coverage, threshold: coverageThreshold, width: coverageRamp)
        let alpha = strength * share * (1 - gate)
        guard alpha > 0 else { return nil }
        // EM from the uniform prior the predictions were made under: π ← mean_b normalise(p_b ⊙ π).
        var prior = mean
        for _ in 0..<Self.iterations {
            var next = [Double](repeating: 0, count: k)
            for b in 0..<batch {
                var total = 0.0
                for c in 0..<k { total += p[b * k + c] * prior[c] }
                guard total > 0 else { continue }
                for c in 0..<k { next[c] += p[b * k + c] * prior[c] / (total * Double(batch)) }
            }
            let change = zip(next, prior).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
            prior = next
            if change < Self.tolerance { break }
        }
        return prior.map { Float(alpha * Foundation.log(Double(k) * max($0, Self.floor))) }
    }
}
