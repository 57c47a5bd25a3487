/// One of the six affine maps `D→D` of the mask network, in the paper code's order and names.
public enum RAdaMap: Int, CaseIterable, Sendable, Codable {
    case query1, query2, query3, key, value, output

    /// The tensor name prefix the paper's code uses (`mha.q_proj1`, …, `mha.out_proj`).
    public var tensorPrefix: String {
        switch self {
        case .query1: "mha.q_proj1"
        case .query2: "mha.q_proj2"
        case .query3: "mha.q_proj3"
        case .key: "mha.k_proj"
        case .value: "mha.v_proj"
        case .output: "mha.out_proj"
        }
    }
}

/// The parameters of the RAda mask network: six affine maps `y = x Wᵀ + c` with `W` D×D
/// (PyTorch `nn.Linear` convention) and `c` of length D.
///
/// All parameters live in one flat array so that optimisers and checkpoints treat them uniformly:
/// the six weights first (in `RAdaMap` order, each row-major D×D), then the six biases. The
/// weights of `query3`, `key` and `value` are therefore one contiguous `3D×D` block (and their
/// biases one `3D` block), which the forward pass uses as a single stacked GEMM.
public struct RAdaMask<Scalar: RAdaScalar>: Sendable, Equatable {
    /// The embedding dimension D.
    public let dimension: Int
    /// `6·D² + 6·D` values in the layout described above.
    public var values: [Scalar]

    /// Number of parameters for dimension `D`.
    public static func parameterCount(dimension d: Int) -> Int { 6 * d * d + 6 * d }

    /// A mask with every parameter zero.
    public init(dimension: Int) {
        self.dimension = dimension
        self.values = [Scalar](repeating: 0, count: Self.parameterCount(dimension: dimension))
    }

    /// Wraps existing values; the count must be `parameterCount(dimension:)`.
    public init(dimension: Int, values: [Scalar]) {
        precondition(values.count == Self.parameterCount(dimension: dimension), "mask needs \(Self.parameterCount(dimension: dimension)) values, got \(values.count)")
        self.dimension = dimension
        self.values = values
    }

    /// The initial mask of a stream: `query1…value` uniform in `[-1/√D, 1/√D)` (PyTorch's default
    /// `nn.Linear` range), drawn from `SeededGenerator(seed:)` map by map (weight row-major, then
    /// bias); `output` exactly zero, so that the mask is exactly 1 and the logits are zero-shot.
    public init(dimension: Int, seed: UInt64) {
        self.init(dimension: dimension)
        var generator = SeededGenerator(seed: seed)
        let bound = 1 / Double(dimension).squareRoot()
        for map in RAdaMap.allCases where map != .output {
            let w = Self.weightRange(map, dimension: dimension)
            for i in w { values[i] = Scalar(generator.nextSymmetric(bound: bound)) }
            let b = Self.biasRange(map, dimension: dimension)
            for i in b { values[i] = Scalar(generator.nextSymmetric(bound: bound)) }
        }
    }

    /// Where the weight of `map` lives in `values`. The layout (six d×d weights in `RAdaMap`
    /// order, then six biases) is spelled here only; the kernels take pointers at these offsets.
    /// Query 3, key and value are adjacent, so from `.query3` one 3d×d block holds all three.
    public static func weightRange(_ map: RAdaMap, dimension d: Int) -> Range<Int> {
        let start = map.rawValue * d * d
        return start..<(start + d * d)
    }

    /// Where the bias of `map` lives in `values` (the three of query 3, key, value adjacent too).
    public static func biasRange(_ map: RAdaMap, dimension d: Int) -> Range<Int> {
        let start = 6 * d * d + map.rawValue * d
        return start..<(start + d)
    }

    /// The query and key maps' parameters: the first four weights, and the first four biases.
    public static func queryKeyRanges(dimension d: Int) -> [Range<Int>] {
        [weightRange(.query1, dimension: d).lowerBound..<weightRange(.key, dimension: d).upperBound,
         biasRange(.query1, dimension: d).lowerBound..<biasRange(.key, dimension: d).upperBound]
    }

    public func weight(_ map: RAdaMap) -> ArraySlice<Scalar> { values[Self.weightRange(map, dimension: dimension)] }
    public func bias(_ map: RAdaMap) -> ArraySlice<Scalar> { values[Self.biasRange(map, dimension: dimension)] }
}
