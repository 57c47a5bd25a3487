import Foundation

extension Corruption {
    /// Elastic: ImageNet-C's two stages — a random affine warp (three points around the centre,
    /// at ±⌊side/3⌋, each moved uniformly by up to `jitter` px) then a smooth random displacement
    /// field (uniform(−1, 1) noise per pixel, Gaussian-blurred with σ, times α) — both read
    /// bilinearly with reflected borders. CIFAR-10-C's ladder, (α, σ, affine) as fractions of the
    /// side [(0, 0, .08), (.05, .2, .07), (.08, .06, .06), (.1, .04, .05), (.1, .03, .03)], does
    /// not grow with severity (at 28 px its affine jitter falls from 2.2 px to 0.8 px while the
    /// field's RMS displacement stays under 0.6 px), so this ladder keeps the
    /// form and makes the displacement grow: field RMS ≈ α·0.577/(2√π·σ) = 0.3, 0.5, 0.7, 0.9,
    /// 1.1 px with σ = 2 px, and affine jitter 0.5 ... 1.5 px. (α, σ, jitter) in pixels.
    static let elasticParameters: [(alpha: Float, sigma: Float, jitter: Float)] = [
        (3.7, 2, 0.5), (6.1, 2, 0.75), (8.6, 2, 1.0), (11.0, 2, 1.25), (13.5, 2, 1.5),
    ]

    static func elasticTransform(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        let (alpha, sigma, jitter) = elasticParameters[level]
        let width = image.width
        let height = image.height
        // Affine part: the map taking the three jittered points back to the originals, so each
        // output pixel knows where to read.
        let cx = Float(width) / 2
        let cy = Float(height) / 2
        let arm = Float(min(width, height) / 3)
        let original: [(Float, Float)] = [(cx + arm, cy + arm), (cx + arm, cy - arm), (cx - arm, cy - arm)]
        let moved = original.map { ($0.0 + Float(random.uniform(-1, 1)) * jitter, $0.1 + Float(random.uniform(-1, 1)) * jitter) }
        let inverse = affineMap(from: moved, to: original)
        let affine = image.warped(border: .reflect) { x, y in
            let fx = Float(x)
            let fy = Float(y)
            return (inverse[0] * fx + inverse[1] * fy + inverse[2], inverse[3] * fx + inverse[4] * fy + inverse[5])
        }
        var noiseX = GrayPlane(width: width, height: height)
        var noiseY = GrayPlane(width: width, height: height)
        for i in noiseX.values.indices { noiseX.values[i] = Float(random.uniform(-1, 1)) }
        for i in noiseY.values.indices { noiseY.values[i] = Float(random.uniform(-1, 1)) }
        let dx = noiseX.gaussianBlurred(sigma: sigma)
        let dy = noiseY.gaussianBlurred(sigma: sigma)
        return affine.warped(border: .reflect) { x, y in
            (Float(x) + alpha * dx[x, y], Float(y) + alpha * dy[x, y])
        }
    }

    /// The 2×3 affine map [a b c; d e f] sending three points `from` onto `to` (Cramer's rule).
    static func affineMap(from p: [(Float, Float)], to q: [(Float, Float)]) -> [Float] {
        let det = p[0].0 * (p[1].1 - p[2].1) - p[0].1 * (p[1].0 - p[2].0) + (p[1].0 * p[2].1 - p[2].0 * p[1].1)
        func solve(_ r: [Float]) -> (Float, Float, Float) {
            let a = (r[0] * (p[1].1 - p[2].1) - p[0].1 * (r[1] - r[2]) + (r[1] * p[2].1 - r[2] * p[1].1)) / det
            let b = (p[0].0 * (r[1] - r[2]) - r[0] * (p[1].0 - p[2].0) + (p[1].0 * r[2] - p[2].0 * r[1])) / det
            let c = (p[0].0 * (p[1].1 * r[2] - p[2].1 * r[1]) - p[0].1 * (p[1].0 * r[2] - p[2].0 * r[1])
                + r[0] * (p[1].0 * p[2].1 - p[2].0 * p[1].1)) / det
            return (a, b, c)
        }
        let row1 = solve(q.map(\.0))
        let row2 = solve(q.map(\.1))
        return [row1.0, row1.1, row1.2, row2.0, row2.1, row2.2]
    }

    /// Pixelate: box-downsample to `size`·c then box-upsample back (Pillow's BOX both ways, as
    /// ImageNet-C). CIFAR-10-C's c = [0.95, 0.9, 0.85, 0.75, 0.65] would give 26, 25, 23, 21,
    /// 18 px, but at 28 px box resampling to 24–27 px mostly shifts the sampling grid rather than
    /// removing detail (26 px lands further from the clean image than 25 or 24 px), so the ladder
    /// starts at 23 px and keeps CIFAR-10-C's spacing: 23, 21, 19, 17, 15 px
    /// (c = 23/28 ... 15/28; mean distance on 200 test images 10.9, 11.5, 13.0, 14.3, 15.8).
    static let pixelateFactor: [Double] = [23.0 / 28, 21.0 / 28, 19.0 / 28, 17.0 / 28, 15.0 / 28]

    static func pixelate(_ image: GrayPlane, level: Int) -> GrayPlane {
        let factor = pixelateFactor[level]
        // Rounded (not truncated) so that 28 · 23/28 is exactly 23 despite floating point.
        let small = image.boxResampled(
            width: max(1, Int((Double(image.width) * factor).rounded())), height: max(1, Int((Double(image.height) * factor).rounded())))
        return small.boxResampled(width: image.width, height: image.height)
    }

    /// Rotate (MNIST-C's corruption; no ImageNet-C / CIFAR-10-C form): rotation about the centre
    /// by an angle whose magnitude is uniform in a band per severity, sign random, bilinear,
    /// black outside. Bands in degrees: [5, 10], [10, 20], [20, 30], [30, 45], [45, 60] — chosen
    /// here so that the bands do not overlap and severity 5 turns garments well off upright.
    static let rotationDegrees: [(low: Double, high: Double)] = [(5, 10), (10, 20), (20, 30), (30, 45), (45, 60)]

    static func rotate(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        let band = rotationDegrees[level]
        let magnitude = random.uniform(band.low, band.high)
        let angle = Float(random.uniform() < 0.5 ? -magnitude : magnitude) * .pi / 180
        let cx = Float(image.width - 1) / 2
        let cy = Float(image.height - 1) / 2
        let c = cos(angle)
        let s = sin(angle)
        return image.warped(border: .zero) { x, y in
            let dx = Float(x) - cx
            let dy = Float(y) - cy
            return (cx + c * dx + s * dy, cy - s * dx + c * dy)
        }
    }
}
