extension Corruption {
    /// Fog: a plasma fractal (diamond-square, roughness `decay`) added with strength s, then the
    /// image rescaled by max/(max + s) so the brightest pixel stays in range. (s, decay) per
    /// severity: CIFAR-10-C's [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)] (ImageNet-C:
    /// [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)]); the fractal is drawn on a 32×32
    /// torus (CIFAR-10-C's map size) and its top-left corner used, as the reference does.
    static let fogParameters: [(strength: Float, decay: Double)] = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)]

    static func fog(_ image: GrayPlane, level: Int, random: inout BenchmarkRandom) -> GrayPlane {
        let (strength, decay) = fogParameters[level]
        var mapSize = 32
        while mapSize < max(image.width, image.height) { mapSize *= 2 }
        let plasma = PlasmaFractal.generate(size: mapSize, decay: decay, random: &random)
        let maximum = image.values.max() ?? 1
        var out = image
        for y in 0..<image.height {
            for x in 0..<image.width {
                out[x, y] = (image[x, y] + strength * plasma[y * mapSize + x]) * maximum / (maximum + strength)
            }
        }
        return out
    }

    /// Brightness: ImageNet-C adds c to HSV's V channel; for gray V is the value itself, so
    /// x ← x + c. c per severity: CIFAR-10-C's [.05, .1, .15, .2, .3] (ImageNet-C:
    /// [.1, .2, .3, .4, .5]). Deterministic.
    static let brightnessShift: [Float] = [0.05, 0.1, 0.15, 0.2, 0.3]

    static func brightness(_ image: GrayPlane, level: Int) -> GrayPlane {
        var out = image
        for i in out.values.indices { out.values[i] = min(1, out.values[i] + brightnessShift[level]) }
        return out
    }

    /// Contrast: x ← (x − mean)·c + mean, mean over the image. c per severity: CIFAR-10-C's
    /// [.75, .5, .4, .3, .15] (ImageNet-C: [.4, .3, .2, .1, .05]). Deterministic.
    static let contrastFactor: [Float] = [0.75, 0.5, 0.4, 0.3, 0.15]

    static func contrast(_ image: GrayPlane, level: Int) -> GrayPlane {
        var out = image
        let mean = image.mean
        for i in out.values.indices { out.values[i] = (out.values[i] - mean) * contrastFactor[level] + mean }
        return out
    }
}

/// The plasma ("diamond-square") fractal ImageNet-C's fog uses, on a toroidal square map whose
/// side is a power of two; values normalised to [0, 1]. The random perturbation starts at ±100
/// and is divided by `decay` at each halving of the step (larger decay: smoother fog).
enum PlasmaFractal {
    static func generate(size: Int, decay: Double, random: inout BenchmarkRandom) -> [Float] {
        precondition(size > 1 && size & (size - 1) == 0, "plasma map size must be a power of two")
        var map = [Double](repeating: 0, count: size * size)
        @inline(__always) func at(_ x: Int, _ y: Int) -> Double { map[((y + size) % size) * size + (x + size) % size] }
        var step = size
        var wibble = 100.0
        while step >= 2 {
            let half = step / 2
            // Squares: each square's centre from its four corners.
            for y in stride(from: 0, to: size, by: step) {
                for x in stride(from: 0, to: size, by: step) {
                    let mean = (at(x, y) + at(x + step, y) + at(x, y + step) + at(x + step, y + step)) / 4
                    map[(y + half) * size + x + half] = mean + random.uniform(-wibble, wibble)
                }
            }
            // Diamonds: each edge midpoint from its four neighbours at distance `half`.
            for y in stride(from: 0, to: size, by: half) {
                for x in stride(from: (y / half) % 2 == 0 ? half : 0, to: size, by: step) {
                    let mean = (at(x - half, y) + at(x + half, y) + at(x, y - half) + at(x, y + half)) / 4
                    map[y * size + x] = mean + random.uniform(-wibble, wibble)
                }
            }
            step = half
            wibble /= decay
        }
        let low = map.min()!
        let high = map.max()!
        let range = high > low ? high - low : 1
        return map.map { Float(($0 - low) / range) }
    }
}
