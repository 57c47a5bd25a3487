import Foundation

extension Corruption {
    /// Canny edges (MNIST-C's edge-only "sketch"; no ImageNet-C form): the Canny edge map
    /// (Gaussian σ = 1, unnormalised Sobel gradients, non-maximum suppression, hysteresis with
    /// thresholds 0.1 and 0.2 on the [0, 1] scale — skimage's `canny` defaults, which MNIST-C
    /// uses) drawn white on black. MNIST-C has one level, the pure edge map; here severity s
    /// blends it in: (1 − w)·x + w·edges with w = 0.2, 0.4, 0.6, 0.8, 1, so severity 5 is
    /// MNIST-C's rendering. Deterministic.
    static let edgeBlend: [Float] = [0.2, 0.4, 0.6, 0.8, 1.0]

    static func cannyEdges(_ image: GrayPlane, level: Int) -> GrayPlane {
        let edges = CannyEdges.detect(image, sigma: 1, low: 0.1, high: 0.2)
        let w = edgeBlend[level]
        var out = image
        for i in out.values.indices { out.values[i] = (1 - w) * image.values[i] + w * edges.values[i] }
        return out
    }
}

/// Canny's detector (1986) on a GrayPlane; the result holds 1 on edge pixels and 0 elsewhere.
enum CannyEdges {
    static func detect(_ image: GrayPlane, sigma: Float, low: Float, high: Float) -> GrayPlane {
        let width = image.width
        let height = image.height
        let smooth = image.gaussianBlurred(sigma: sigma, border: .edge)
        var magnitude = [Float](repeating: 0, count: width * height)
        var gx = magnitude
        var gy = magnitude
        for y in 0..<height {
            for x in 0..<width {
                func p(_ dx: Int, _ dy: Int) -> Float { smooth.pixel(x + dx, y + dy, border: .edge) }
                let sx = (p(1, -1) + 2 * p(1, 0) + p(1, 1)) - (p(-1, -1) + 2 * p(-1, 0) + p(-1, 1))
                let sy = (p(-1, 1) + 2 * p(0, 1) + p(1, 1)) - (p(-1, -1) + 2 * p(0, -1) + p(1, -1))
                gx[y * width + x] = sx
                gy[y * width + x] = sy
                magnitude[y * width + x] = (sx * sx + sy * sy).squareRoot()
            }
        }
        // Non-maximum suppression along the gradient direction, quantised to 0°, 45°, 90°, 135°;
        // the image border is never an edge (as skimage masks it).
        var thin = [Float](repeating: 0, count: width * height)
        for y in 1..<max(1, height - 1) {
            for x in 1..<max(1, width - 1) {
                let i = y * width + x
                let m = magnitude[i]
                guard m >= low else { continue }
                var angle = atan2(gy[i], gx[i]) * 180 / .pi
                if angle < 0 { angle += 180 }
                let (dx, dy): (Int, Int) =
                    angle < 22.5 || angle >= 157.5 ? (1, 0) : angle < 67.5 ? (1, 1) : angle < 112.5 ? (0, 1) : (-1, 1)
                if m >= magnitude[(y + dy) * width + x + dx] && m >= magnitude[(y - dy) * width + x - dx] { thin[i] = m }
            }
        }
        // Hysteresis: strong pixels seed a flood fill over 8-connected weak ones.
        var out = GrayPlane(width: width, height: height)
        var stack = thin.indices.filter { thin[$0] >= high }
        for i in stack { out.values[i] = 1 }
        while let i = stack.popLast() {
            let x = i % width
            let y = i / width
            for dy in -1...1 {
                for dx in -1...1 {
                    let nx = x + dx
                    let ny = y + dy
                    guard nx >= 0, nx < width, ny >= 0, ny < height else { continue }
                    let j = ny * width + nx
                    if out.values[j] == 0 && thin[j] >= low { out.values[j] = 1; stack.append(j) }
                }
            }
        }
        return out
    }
}
