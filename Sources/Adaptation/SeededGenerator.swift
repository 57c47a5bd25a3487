/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fully specified generator, so that a stream's
/// initial mask is the same on every machine and every Swift version for a given seed.
///
/// Uniform values are drawn as `(next() >> 11) · 2⁻⁵³` in [0, 1) and mapped affinely.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double uniform in [0, 1) from the top 53 bits of the next draw.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A value uniform in [-bound, bound).
    public mutating func nextSymmetric(bound: Double) -> Double { (2 * nextUnit() - 1) * bound }
}
