import RadaNumerics

/// Two methods that each adjust zero-shot CLIP, run side by side on the same stream, their
/// adjustments added: logits = z + (a − z) + (b − z). Each learns exactly as it would alone
/// (for DOTA: from the zero-shot soft labels; for rada: from its own masked logits), so the
/// fusion asks only whether the two adjustments are complementary. "rada+dota" in `rada bench`.
public struct FusedMethod: TTAMethod {
    public let name: String
    public private(set) var first: any TTAMethod
    public private(set) var second: any TTAMethod
    public let textEmbeddings: Matrix
    public let logitScale: Float

    public init(_ first: any TTAMethod, _ second: any TTAMethod, textEmbeddings: Matrix, logitScale: Float, name: String? = nil) {
        self.first = first
        self.second = second
        self.textEmbeddings = textEmbeddings
        self.logitScale = logitScale
        self.name = name ?? "\(first.name)+\(second.name)"
    }

    public mutating func process(features: Matrix, labels: [Int]) throws -> Matrix {
        let zeroShot = try ZeroShotMethod.logits(features, textEmbeddings, logitScale)
        var fused = try first.process(features: features, labels: labels)
        let other = try second.process(features: features, labels: labels)
        for i in fused.storage.indices { fused.storage[i] += other.storage[i] - zeroShot.storage[i] }
        return fused
    }

    public mutating func reset() {
        first.reset()
        second.reset()
    }
}
