import CLIP
import RadaNumerics
import Imaging

/// A deterministic stand-in for CLIP that needs no model: image embeddings are colour statistics
/// of the 32×32 centre crop (per-channel means over it and over a 2×2 grid, plus contrast), class embeddings
/// are pseudo-random unit vectors seeded by a hash of each prompt. Not a vision model: it exists
/// so that the serving path (batching, adaptation, durability, load tests) can be exercised and
/// measured without weights (`rada serve --backend synthetic`). Equal inputs give equal outputs.
public struct PixelStatisticsBackend: EmbeddingBackend {
    public let embeddingDimension: Int
    public let logitScale: Float
    /// Simulated backbone cost per image, to make load tests of batching meaningful.
    public let costPerImage: Duration

    /// `dimension` must be at least 16 (the statistics fill the first 16 coordinates).
    public init(dimension: Int = 32, logitScale: Float = 100, costPerImage: Duration = .zero) {
        precondition(dimension >= 16, "PixelStatisticsBackend needs dimension >= 16")
        self.embeddingDimension = dimension
        self.logitScale = logitScale
        self.costPerImage = costPerImage
    }

    /// Like a model's: images are resized and centre-cropped to 32 x 32 before the statistics
    /// are taken, so the serving path (decode budget, image workers) is the same as with CLIP.
    public let preprocessor = ImagePreprocessor(resizeShortestEdge: 32, cropSize: 32, mean: [0, 0, 0], std: [1, 1, 1])

    public func embedPreprocessed(_ images: [RGBImage]) async throws -> Matrix {
        if costPerImage > .zero { try await Task.sleep(for: costPerImage * images.count) }
        var out = Matrix(rows: images.count, cols: embeddingDimension)
        for (i, image) in images.enumerated() {
            let stats = Self.statistics(image)
            // Mix the statistics into all D coordinates with a fixed pseudo-random matrix so
            // that every coordinate carries signal (as in a real embedding).
            var generator = SplitMix64(seed: 0x5EED)
            for d in 0..<embeddingDimension {
                var v: Float = 0
                for s in stats { v += s * generator.nextSigned() }
                out[i, d] = v
            }
        }
        out.normalizeRows()
        return out
    }

    public func classEmbeddings(labels: [String], prompts: [String: [String]]?, templates: [String]?) async throws -> Matrix {
        var out = Matrix(rows: labels.count, cols: embeddingDimension)
        for (k, label) in labels.enumerated() {
            let texts = prompts?[label] ?? (templates ?? ["a photo of a {}."]).map { $0.replacingOccurrences(of: "{}", with: label) }
            for text in texts {
                var norm: Float = 0
                var vector = [Float](repeating: 0, count: embeddingDimension)
                var generator = SplitMix64(seed: Self.fnv1a(text))
                for d in 0..<embeddingDimension {
                    vector[d] = generator.nextSigned()
                    norm += vector[d] * vector[d]
                }
                for d in 0..<embeddingDimension { out[k, d] += vector[d] / norm.squareRoot() }
            }
        }
        out.normalizeRows()
        return out
    }

    /// 16 numbers in [-1, 1]: 3 channel means, 12 quadrant channel means, 1 contrast.
    static func statistics(_ image: RGBImage) -> [Float] {
        var sums = [Double](repeating: 0, count: 15)
        var counts = [Double](repeating: 0, count: 4)
        var sumSquares = 0.0
        let w = image.width, h = image.height
        for y in 0..<h {
            for x in 0..<w {
                let q = (y * 2 / max(h, 1)) * 2 + (x * 2 / max(w, 1))
                counts[q] += 1
                for c in 0..<3 {
                    let v = Double(image.pixels[(y * w + x) * 3 + c]) / 255
                    sums[c] += v
                    sums[3 + q * 3 + c] += v
                    sumSquares += v * v
                }
            }
        }
        let n = Double(max(w * h, 1))
        var stats = [Float](repeating: 0, count: 16)
        for c in 0..<3 { stats[c] = Float(2 * sums[c] / n - 1) }
        for q in 0..<4 {
            for c in 0..<3 { stats[3 + q * 3 + c] = Float(2 * sums[3 + q * 3 + c] / max(counts[q], 1) - 1) }
        }
        let mean = (sums[0] + sums[1] + sums[2]) / (3 * n)
        stats[15] = Float(2 * max(0, sumSquares / (3 * n) - mean * mean).squareRoot())
        return stats
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}

/// SplitMix64: a tiny deterministic generator (same sequence on every platform).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func nextSigned() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}
