import Foundation

/// What is read off a classifier's output row, one home each: entropy, argmax, top-k and an
/// allocating softmax for code that works a row at a time. Batches of rows go through the C
/// kernel `softmaxRows` (and the mask's K×K maps through `softmaxFlat`).
extension Kernels {
    /// Shannon entropy (nats) of a probability vector; zero entries contribute nothing.
    public static func entropy(probabilities p: some Sequence<Float>) -> Float {
        var h: Float = 0
        for value in p where value > 0 { h -= value * Foundation.log(value) }
        return h
    }

    /// Entropy (nats) of softmax(logits), computed stably in Double:
    /// H = log Σ e^s − Σ e^s·s / Σ e^s with s = z − max z.
    public static func entropy(logits: some Collection<Float>) -> Double {
        let top = Double(logits.max() ?? 0)
        var total = 0.0, weighted = 0.0
        for value in logits {
            let shifted = Double(value) - top
            let e = Foundation.exp(shifted)
            total += e
            weighted += e * shifted
        }
        return Foundation.log(total) - weighted / total
    }

    /// softmax(logits) computed in Double, shifted by the maximum.
    public static func softmax(logits: some Collection<Float>) -> [Double] {
        let top = Double(logits.max() ?? 0)
        let exps = logits.map { Foundation.exp(Double($0) - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    /// Position (0-based, from the collection's start) of the first largest element, as
    /// torch.argmax returns; 0 for an empty collection.
    public static func argmax<C: Collection>(_ x: C) -> Int where C.Element: Comparable {
        var best = x.startIndex
        for i in x.indices where x[i] > x[best] { best = i }
        return x.distance(from: x.startIndex, to: best)
    }

    /// Positions (0-based) of the `k` largest elements, largest first, ties by lower position.
    public static func topK(_ x: some Collection<Float>, _ k: Int) -> [Int] {
        let values = Array(x)
        let order = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        return Array(order.prefix(max(0, k)))
    }
}
