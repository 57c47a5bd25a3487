extension Corruption {
    /// Additive N(0, σ²) per pixel. σ per severity: CIFAR-10-C's [0.04, 0.06, 0.08, 0.09, 0.10]
    /// (ImageNet-C: [0.08, 0.12, 0.18, 0.26, 0.38]), on the [0, 1] scale; an intensity, kept.
    static let gaussianSigma: [Float] = [0.04, 0.06, 0.08, 0.09, 0.10]

    static func gaussianNoise(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        var out = image
        let sigma = Double(gaussianSigma[level])
        for i in out.values.indices { out.values[i] += Float(sigma * random.normal()) }
        return out
    }

    // Each noise is its own per-pixel formula with its own severity table; the loops share a
    // shape, not logic.

    /// Poisson photon noise: x ← Poisson(x·c) / c. Photon count c per severity: CIFAR-10-C's
    /// [500, 250, 100, 75, 50] (ImageNet-C: [60, 25, 12, 5, 3]); kept.
    static let shotPhotons: [Double] = [500, 250, 100, 75, 50]

    static func shotNoise(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        var out = image
        let photons = shotPhotons[level]
        for i in out.values.indices {
            out.values[i] = Float(random.poisson(Double(max(0, out.values[i])) * photons) / photons)
        }
        return out
    }

    /// Salt-and-pepper: each pixel is replaced with probability `amount`, by 0 or 1 with equal
    /// chance (skimage's `random_noise(mode="s&p")`, as ImageNet-C uses). Amount per severity:
    /// CIFAR-10-C's [0.01, 0.02, 0.03, 0.05, 0.07] (ImageNet-C: [.03, .06, .09, .17, .27]); kept.
    static let impulseAmount: [Double] = [0.01, 0.02, 0.03, 0.05, 0.07]

    static func impulseNoise(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        var out = image
        let amount = impulseAmount[level]
        for i in out.values.indices {
            let u = random.uniform()
            if u < amount { out.values[i] = u < amount / 2 ? 0 : 1 }
        }
        return out
    }
}
