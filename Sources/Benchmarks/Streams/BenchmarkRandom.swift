import Foundation

/// The benchmark's only source of randomness: SplitMix64 (Steele, Lea & Flood 2014), keyed by
/// hashing the values that identify a draw (seed, image index, corruption, severity, domain...).
/// Keyed streams make every corrupted image and every stream order a pure function of those
/// values, identical on every machine and independent of the order in which work is done.
/// Never replace it with `SystemRandomNumberGenerator`.
public struct BenchmarkRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(state: UInt64) { self.state = state }

    /// A generator keyed by several values: each is folded into the state through the SplitMix64
    /// finaliser, so (1, 2) and (2, 1) give unrelated streams.
    public init(keys: UInt64...) {
        var state: UInt64 = 0x243F_6A88_85A3_08D3
        for key in keys { state = Self.mix(state ^ Self.mix(key &+ 0x9E37_79B9_7F4A_7C15)) }
        self.state = state
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * uniform() }

    /// Uniform integer in `range`, without modulo bias (rejection).
    public mutating func integer(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) &+ 1
        if span == 0 { return Int(bitPattern: UInt(next())) }
        let limit = UInt64.max - UInt64.max % span
        var value = next()
        while value >= limit { value = next() }
        return range.lowerBound + Int(value % span)
    }

    /// Standard normal by Box–Muller (one value per call; the second is dropped so that a
    /// draw's result never depends on an earlier call's leftover).
    public mutating func normal() -> Double {
        let u1 = 1 - uniform() // (0, 1]: log stays finite
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (2000); for shape < 1 the boost
    /// Gamma(a) = Gamma(a + 1) · U^(1/a).
    public mutating func gamma(shape: Double) -> Double {
        precondition(shape > 0, "gamma shape must be positive")
        if shape < 1 {
            let boosted = gamma(shape: shape + 1)
            return boosted * pow(uniform() + 0x1.0p-60, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniform()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u + 0x1.0p-60) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// A draw from the symmetric Dirichlet(concentration) over `count` categories, through
    /// normalised Gamma(concentration) draws. Sums to 1.
    public mutating func dirichlet(concentration: Double, count: Int) -> [Double] {
        var draws = (0..<count).map { _ in gamma(shape: concentration) }
        var total = draws.reduce(0, +)
        if total <= 0 {
            // All draws underflowed (possible for tiny concentrations): all mass on one category.
            draws = [Double](repeating: 0, count: count)
            draws[integer(in: 0...(count - 1))] = 1
            total = 1
        }
        return draws.map { $0 / total }
    }

    /// Poisson(lambda): Knuth's product method below 30, else the rounded normal approximation
    /// N(lambda, lambda) (relative error of the variance under 2 % there), clamped at 0.
    public mutating func poisson(_ lambda: Double) -> Double {
        if lambda <= 0 { return 0 }
        if lambda < 30 {
            let limit = exp(-lambda)
            var product = uniform()
            var count = 0.0
            while product > limit {
                product *= uniform()
                count += 1
            }
            return count
        }
        return max(0, (lambda + lambda.squareRoot() * normal()).rounded())
    }

    /// Fisher–Yates shuffle of `values`.
    public mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            let j = integer(in: 0...i)
            if i != j { values.swapAt(i, j) }
        }
    }
}
