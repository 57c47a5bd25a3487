import Dispatch

/// Wall time per stage of image-tower passes (`rada bench-backbone --stages`): which share of a
/// pass the weight products take, and which the work between them (layer norm, attention, GELU,
/// unfolding patches), the part no GEMM kernel speeds up. Used by one pass at a time.
public final class TowerProfile {
    public enum Stage: String, CaseIterable, Sendable {
        case patchUnfolding = "patch unfolding (im2col), class token, positions"
        case patchProduct = "patch embedding product (GEMM)"
        case layerNorm = "layer norm"
        case qkv = "QKV projection"
        case attention = "attention (scores, softmax, P·V)"
        case outProjection = "attention out projection"
        case fc1 = "MLP fc1"
        case activation = "GELU"
        case fc2 = "MLP fc2"
        case head = "pooling, projection, L2 norm"

        /// Whether the stage is one of the four projections per block.
        public var isProjection: Bool { [.qkv, .outProjection, .fc1, .fc2].contains(self) }

        /// Whether the stage is a product on a weight matrix (the projections and the patch
        /// embedding's): what issue 13 calls GEMMs. Attention's own products run fused with its
        /// softmax and count as the rest, as do the head's small products.
        public var isWeightProduct: Bool { isProjection || self == .patchProduct }
    }

    public private(set) var nanoseconds: [Stage: UInt64] = [:]

    public init() {}

    func measure<R>(_ stage: Stage, _ body: () -> R) -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        nanoseconds[stage, default: 0] += DispatchTime.now().uptimeNanoseconds - start
        return result
    }

    /// Each stage's share of the measured time, in stage order.
    public var shares: [(stage: Stage, share: Double)] {
        let total = Double(nanoseconds.values.reduce(0, +))
        return Stage.allCases.map { ($0, total > 0 ? Double(nanoseconds[$0, default: 0]) / total : 0) }
    }
}

extension Optional where Wrapped == TowerProfile {
    /// Runs `body`, timing it as `stage` when there is a profile.
    func measure<R>(_ stage: TowerProfile.Stage, _ body: () -> R) -> R {
        guard let profile = self else { return body() }
        return profile.measure(stage, body)
    }
}
