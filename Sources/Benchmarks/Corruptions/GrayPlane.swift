import Foundation

/// A grayscale image as Float values (nominally in [0, 1]) for the corruptions' arithmetic,
/// with the few filters they share. Row-major; `values[y * width + x]`.
struct GrayPlane: Sendable, Equatable {
    let width: Int
    let height: Int
    var values: [Float]

    init(width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height, "plane of \(width)×\(height) given \(values.count) values")
        self.width = width
        self.height = height
        self.values = values
    }

    init(width: Int, height: Int, repeating value: Float = 0) {
        self.init(width: width, height: height, values: [Float](repeating: value, count: width * height))
    }

    /// From 8-bit pixels, 0...255 → 0...1.
    init<C: Collection>(width: Int, height: Int, bytes: C) where C.Element == UInt8 {
        self.init(width: width, height: height, values: bytes.map { Float($0) / 255 })
    }

    /// Back to 8-bit: clamped to [0, 1], scaled by 255 and rounded to nearest.
    var bytes: [UInt8] { values.map { UInt8((min(max($0, 0), 1) * 255).rounded()) } }

    subscript(x: Int, y: Int) -> Float {
        get { values[y * width + x] }
        set { values[y * width + x] = newValue }
    }

    var mean: Float { values.reduce(0, +) / Float(values.count) }

    /// How a read outside the image is answered.
    enum Border {
        /// 0 (Fashion-MNIST's background is black).
        case zero
        /// Nearest edge pixel.
        case edge
        /// Half-sample symmetric (`dcba|abcd|dcba`), scipy.ndimage's "reflect".
        case reflect
    }

    /// The index along an axis of `size` that `i` reads under `border`; nil for a zero read.
    @inline(__always)
    static func resolve(_ i: Int, size: Int, border: Border) -> Int? {
        if i >= 0 && i < size { return i }
        switch border {
        case .zero: return nil
        case .edge: return min(max(i, 0), size - 1)
        case .reflect:
            let period = 2 * size
            var m = i % period
            if m < 0 { m += period }
            return m < size ? m : period - 1 - m
        }
    }

    @inline(__always)
    func pixel(_ x: Int, _ y: Int, border: Border) -> Float {
        guard let rx = Self.resolve(x, size: width, border: border),
              let ry = Self.resolve(y, size: height, border: border) else { return 0 }
        return values[ry * width + rx]
    }

    /// Bilinear interpolation at a real position (pixel centres at integers).
    func sample(x: Float, y: Float, border: Border) -> Float {
        let x0 = Int(x.rounded(.down))
        let y0 = Int(y.rounded(.down))
        let fx = x - Float(x0)
        let fy = y - Float(y0)
        if x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height {
            // Interior: no border rule needed (the common case, and the hot loop of the warps).
            let i = y0 * width + x0
            let top = values[i] * (1 - fx) + values[i + 1] * fx
            let bottom = values[i + width] * (1 - fx) + values[i + width + 1] * fx
            return top * (1 - fy) + bottom * fy
        }
        let top = pixel(x0, y0, border: border) * (1 - fx) + pixel(x0 + 1, y0, border: border) * fx
        let bottom = pixel(x0, y0 + 1, border: border) * (1 - fx) + pixel(x0 + 1, y0 + 1, border: border) * fx
        return top * (1 - fy) + bottom * fy
    }

    /// Resamples through a map from each output pixel to the input position it reads.
    func warped(border: Border, _ source: (Int, Int) -> (x: Float, y: Float)) -> GrayPlane {
        var out = GrayPlane(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let p = source(x, y)
                out.values[y * width + x] = sample(x: p.x, y: p.y, border: border)
            }
        }
        return out
    }

    /// Separable convolution with a symmetric 1-D kernel (odd length) along both axes.
    func convolvedSeparable(_ kernel: [Float], border: Border) -> GrayPlane {
        let radius = kernel.count / 2
        var horizontal = GrayPlane(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                var sum: Float = 0
                if x >= radius && x + radius < width {
                    let base = y * width + x - radius
                    for k in 0..<kernel.count { sum += kernel[k] * values[base + k] }
                } else {
                    for k in 0..<kernel.count { sum += kernel[k] * pixel(x + k - radius, y, border: border) }
                }
                horizontal.values[y * width + x] = sum
            }
        }
        var out = GrayPlane(width: width, height: height)
        for y in 0..<height {
            let interior = y >= radius && y + radius < height
            for x in 0..<width {
                var sum: Float = 0
                if interior {
                    for k in 0..<kernel.count { sum += kernel[k] * horizontal.values[(y + k - radius) * width + x] }
                } else {
                    for k in 0..<kernel.count { sum += kernel[k] * horizontal.pixel(x, y + k - radius, border: border) }
                }
                out.values[y * width + x] = sum
            }
        }
        return out
    }

    /// Convolution with a square 2-D kernel (odd side, row-major).
    func convolved(_ kernel: [Float], side: Int, border: Border) -> GrayPlane {
        let radius = side / 2
        var out = GrayPlane(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                var sum: Float = 0
                for ky in 0..<side {
                    for kx in 0..<side where kernel[ky * side + kx] != 0 {
                        sum += kernel[ky * side + kx] * pixel(x + kx - radius, y + ky - radius, border: border)
                    }
                }
                out.values[y * width + x] = sum
            }
        }
        return out
    }

    /// Gaussian blur with standard deviation `sigma` px, kernel truncated at 4σ (scipy's default).
    func gaussianBlurred(sigma: Float, border: Border = .reflect) -> GrayPlane {
        guard sigma > 0 else { return self }
        return convolvedSeparable(Self.gaussianKernel(sigma: sigma), border: border)
    }

    static func gaussianKernel(sigma: Float) -> [Float] {
        let radius = max(1, Int((4 * sigma).rounded()))
        var kernel = (-radius...radius).map { i -> Float in
            let d = Float(i)
            return exp(-d * d / (2 * sigma * sigma))
        }
        let total = kernel.reduce(0, +)
        for i in kernel.indices { kernel[i] /= total }
        return kernel
    }

    /// Area-weighted (box) resampling to a new size, as Pillow's `Image.BOX` filter: each output
    /// pixel averages the input area it covers, weighting partly covered pixels by overlap.
    func boxResampled(width newWidth: Int, height newHeight: Int) -> GrayPlane {
        let horizontal = Self.boxWeights(from: width, to: newWidth)
        let vertical = Self.boxWeights(from: height, to: newHeight)
        var rows = [Float](repeating: 0, count: newWidth * height)
        for y in 0..<height {
            for (x, taps) in horizontal.enumerated() {
                rows[y * newWidth + x] = taps.reduce(0) { $0 + $1.weight * values[y * width + $1.index] }
            }
        }
        var out = GrayPlane(width: newWidth, height: newHeight)
        for (y, taps) in vertical.enumerated() {
            for x in 0..<newWidth {
                out.values[y * newWidth + x] = taps.reduce(0) { $0 + $1.weight * rows[$1.index * newWidth + x] }
            }
        }
        return out
    }

    private static func boxWeights(from size: Int, to newSize: Int) -> [[(index: Int, weight: Float)]] {
        let scale = Double(size) / Double(newSize)
        return (0..<newSize).map { i in
            let start = Double(i) * scale
            let end = Double(i + 1) * scale
            var taps: [(index: Int, weight: Float)] = []
            var j = Int(start.rounded(.down))
            while Double(j) < end && j < size {
                let overlap = min(end, Double(j + 1)) - max(start, Double(j))
                if overlap > 1e-9 { taps.append((j, Float(overlap / scale))) }
                j += 1
            }
            return taps
        }
    }
}
