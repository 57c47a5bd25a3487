import Foundation

/// A few numbers that say where a stream's adaptation state stands, for watching what grows or
/// drifts over a long stream (`rada bench` prints them per round of the long protocol). Reading
/// them does not change the stream.
public struct StreamStateSummary: Sendable, Equatable {
    /// Root mean square of the query, key and value maps' parameters (weights and biases): the
    /// random initial maps that give the mask its shape, which AdamW's decay pulls towards 0.
    public var attentionMapsRMS: Double
    /// Root mean square of the output map's parameters: 0 at the base state (mask exactly 1).
    public var outputMapRMS: Double
    /// √(mean v̂): the root mean square gradient Adam divides by (bias-corrected; 0 before the
    /// first step and for SGD).
    public var gradientRMS: Double
    /// Root mean square of Adam's normalised step m̂/(√v̂ + ε): the update per unit learning rate.
    public var normalisedStepRMS: Double
    /// The memory of domains, while it is on: states stored, and shifts and restores so far.
    public var domains: DomainCounts?

    public struct DomainCounts: Sendable, Equatable {
        public var stored: Int
        public var shifts: Int
        public var restores: Int
    }

    /// The summary's values by name, in a fixed order (the report's columns).
    public var named: [(name: String, value: Double)] {
        [("attention maps RMS", attentionMapsRMS), ("output map RMS", outputMapRMS),
         ("Adam √v̂", gradientRMS), ("Adam step RMS", normalisedStepRMS)]
            + (domains.map { [("stored_states", Double($0.stored)), ("shifts", Double($0.shifts)), ("restores", Double($0.restores))] } ?? [])
    }
}

extension StreamState {
    public var summary: StreamStateSummary {
        let d = dimension
        var attention = 0.0, attentionCount = 0, output = 0.0, outputCount = 0
        for map in RAdaMap.allCases {
            for range in [RAdaMask<Float>.weightRange(map, dimension: d), RAdaMask<Float>.biasRange(map, dimension: d)] {
                var squares = 0.0
                for i in range { squares += Double(mask.values[i]) * Double(mask.values[i]) }
                if map == .output { output += squares; outputCount += range.count } else { attention += squares; attentionCount += range.count }
            }
        }
        let settings = hyperparameters.optimizer
        var gradient = 0.0, normalised = 0.0
        let moments = optimizer.firstMoment.count == mask.values.count && optimizer.secondMoment.count == mask.values.count
        if optimizer.step > 0 && moments {
            let correction1 = 1 - pow(settings.beta1, Double(optimizer.step))
            let correction2 = 1 - pow(settings.beta2, Double(optimizer.step))
            for i in 0..<mask.values.count {
                let v = Double(optimizer.secondMoment[i]) / correction2
                let m = Double(optimizer.firstMoment[i]) / correction1
                gradient += v
                let step = m / (v.squareRoot() + settings.epsilon)
                normalised += step * step
            }
            gradient /= Double(mask.values.count)
            normalised /= Double(mask.values.count)
        }
        return StreamStateSummary(
            attentionMapsRMS: (attention / Double(max(1, attentionCount))).squareRoot(),
            outputMapRMS: (output / Double(max(1, outputCount))).squareRoot(),
            gradientRMS: gradient.squareRoot(), normalisedStepRMS: normalised.squareRoot(),
            domains: appliedDomainMemory.isOn
                ? .init(stored: domains.entries.count, shifts: domains.shifts, restores: domains.restores) : nil)
    }
}
