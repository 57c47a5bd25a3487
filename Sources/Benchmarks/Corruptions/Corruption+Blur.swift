import Foundation

extension Corruption {
    /// Defocus: convolution with a disk of radius r (pixels within r of the centre, normalised),
    /// then a Gaussian of σ_alias to soften the disk's aliasing. (r, σ_alias) per severity:
    /// CIFAR-10-C's [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)] (ImageNet-C:
    /// [(3, .1), (4, .5), (6, .5), (8, .5), (10, .5)]), kept in pixels (see the type's note:
    /// r = 1 × 28/32 would be a one-pixel disk and merge severity 4 into 1).
    static let defocusParameters: [(radius: Float, aliasSigma: Float)] = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]

    static func defocusBlur(_ image: GrayPlane, level: Int) -> GrayPlane {
        let (radius, aliasSigma) = defocusParameters[level]
        let reach = Int(radius.rounded(.down))
        let side = 2 * reach + 1
        var disk = [Float](repeating: 0, count: side * side)
        for y in -reach...reach {
            for x in -reach...reach where Float(x * x + y * y) <= radius * radius {
                disk[(y + reach) * side + (x + reach)] = 1
            }
        }
        let total = disk.reduce(0, +)
        for i in disk.indices { disk[i] /= total }
        return image.convolved(disk, side: side, border: .reflect).gaussianBlurred(sigma: aliasSigma)
    }

    /// Glass: Gaussian blur σ, then `iterations` sweeps that swap each interior pixel with a
    /// random neighbour at most δ away, then the blur again. CIFAR-10-C's ladder (σ, δ, it) =
    /// [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)] does not grow on
    /// 28 px garments: more blur smooths away the swaps, so its mean distance from the clean
    /// image falls from severity 1 to 3 and from 4 to 5. Used instead: CIFAR-10-C's σ = 0.4 px
    /// and δ = 1 px (its severities 3 and 5) with 1, 2, 3, 4, 5 sweeps, whose mean distance
    /// grows (measured on 60 test images: 22.6, 28.5, 32.4, 35.1 for 1–4 sweeps, 0–255 scale).
    /// ImageNet-C's larger σ (0.7–1.5 px) blurs a 28 px garment past recognition already at
    /// severity 1. Offsets are drawn from the symmetric −δ...δ (the reference's numpy `randint`
    /// excluded +δ, drifting the image towards the top left).
    static let glassParameters: [(sigma: Float, delta: Int, iterations: Int)] = [(0.4, 1, 1), (0.4, 1, 2), (0.4, 1, 3), (0.4, 1, 4), (0.4, 1, 5)]

    static func glassBlur(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        let (sigma, delta, iterations) = glassParameters[level]
        var out = image.gaussianBlurred(sigma: sigma)
        let width = image.width
        let height = image.height
        guard width > 2 * delta, height > 2 * delta else { return out.gaussianBlurred(sigma: sigma) }
        for _ in 0..<iterations {
            for y in stride(from: height - delta - 1, through: delta, by: -1) {
                for x in stride(from: width - delta - 1, through: delta, by: -1) {
                    let dx = random.integer(in: -delta...delta)
                    let dy = random.integer(in: -delta...delta)
                    out.values.swapAt(y * width + x, (y + dy) * width + (x + dx))
                }
            }
        }
        return out.gaussianBlurred(sigma: sigma)
    }

    /// Motion: ImageMagick's `motion_blur(radius, sigma, angle)` as ImageNet-C calls it: a
    /// one-sided line kernel of `radius` taps along a random angle in [−45°, 45°], tap i weighted
    /// exp(−i²/2σ²) and read bilinearly (edge pixels repeat). (radius, σ) per severity:
    /// CIFAR-10-C's [(10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)] (ImageNet-C: [(10, 3),
    /// (15, 5), (15, 8), (15, 12), (20, 15)]), kept in pixels.
    static let motionParameters: [(radius: Int, sigma: Float)] = [(10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)]

    static func motionBlur(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        let (radius, sigma) = motionParameters[level]
        let angle = Float(random.uniform(-45, 45)) * .pi / 180
        let step = (x: cos(angle), y: sin(angle))
        let weights = (0..<radius).map { i in exp(-Float(i * i) / (2 * sigma * sigma)) }
        let total = weights.reduce(0, +)
        var out = GrayPlane(width: image.width, height: image.height)
        for y in 0..<image.height {
            for x in 0..<image.width {
                var sum: Float = 0
                for (i, weight) in weights.enumerated() {
                    sum += weight * image.sample(x: Float(x) - Float(i) * step.x, y: Float(y) - Float(i) * step.y, border: .edge)
                }
                out[x, y] = sum / total
            }
        }
        return out
    }

    /// Zoom: the mean of the image and copies of it enlarged about the centre by each factor z
    /// (cropped back to size, bilinear). Factors per severity: CIFAR-10-C's 1, 1.01, ... up to
    /// 1.05 / 1.10 / 1.15 / 1.20 / 1.25 (`np.arange(1, 1.06, 0.01)` ...; ImageNet-C goes to
    /// 1.11 ... 1.33 in coarser steps); factors are resolution independent. Deterministic.
    static let zoomMaxFactor: [Float] = [1.05, 1.10, 1.15, 1.20, 1.25]

    /// Per output coordinate along an axis: the two input coordinates a zoom by `factor` about
    /// `centre` reads (clamped to the edge) and the weight of the second.
    static func zoomTaps(count: Int, centre: Float, factor: Float) -> [(index: Int, next: Int, weight: Float)] {
        (0..<count).map { i in
            let position = centre + (Float(i) - centre) / factor
            let low = Int(position.rounded(.down))
            return (min(max(low, 0), count - 1), min(max(low + 1, 0), count - 1), position - Float(low))
        }
    }

    static func zoomBlur(_ image: GrayPlane, level: Int) -> GrayPlane {
        let steps = Int((zoomMaxFactor[level] - 1) * 100 + 0.5)
        let factors = (0...steps).map { 1 + Float($0) / 100 }
        let cx = Float(image.width - 1) / 2
        let cy = Float(image.height - 1) / 2
        var sum = image
        for factor in factors {
            // The zoom maps each axis on its own, so its bilinear taps are computed per column
            // and per row once (edge pixels repeat), not per pixel: the hot loop of this
            // corruption, 26 zooms per image at severity 5.
            let columns = Self.zoomTaps(count: image.width, centre: cx, factor: factor)
            let rows = Self.zoomTaps(count: image.height, centre: cy, factor: factor)
            let w = image.width
            image.values.withUnsafeBufferPointer { v in
                for (y, row) in rows.enumerated() {
                    let upper = row.index * w
                    let lower = row.next * w
                    for (x, column) in columns.enumerated() {
                        let top = v[upper + column.index] * (1 - column.weight) + v[upper + column.next] * column.weight
                        let bottom = v[lower + column.index] * (1 - column.weight) + v[lower + column.next] * column.weight
                        sum.values[y * w + x] += top * (1 - row.weight) + bottom * row.weight
                    }
                }
            }
        }
        let count = Float(factors.count + 1)
        for i in sum.values.indices { sum.values[i] /= count }
        return sum
    }
}
