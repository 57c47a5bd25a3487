/// The fifteen corruptions of "Fashion-MNIST-C" (Docs/benchmarks-protocol.md), after Hendrycks &
/// Dietterich's ImageNet-C / CIFAR-10-C and Mu & Gilmer's MNIST-C, for 8-bit grayscale images
/// (calibrated on 28×28). Raw values are the names the literature uses.
///
/// Each corrupted image is a pure function of (image index, corruption, severity, seed): every
/// random draw comes from `BenchmarkRandom` keyed by those four values. Severity 0 is the
/// identity; 1...5 follow the source benchmark's ladders.
///
/// How the CIFAR-10-C (32 px) parameters were adapted to 28 px: intensities (noise levels,
/// brightness, contrast, JPEG quality, fog strength) are resolution independent and kept as they
/// are; lengths in pixels (blur radii and σ, glass-blur displacement) are kept in pixels too,
/// because 28/32 = 0.875 is within the rounding of these small discrete kernels and scaling them
/// would merge severities (a disk of radius 1 × 0.875 is a single pixel); parameters CIFAR-10-C
/// states as fractions of the image size (elastic transform) use 28. Where a CIFAR-10-C ladder
/// does not grow with severity, or a corruption has no CIFAR-10-C form (rotate, canny_edges), the
/// per-corruption documentation says what is used instead and why.
public enum Corruption: String, CaseIterable, Sendable, Codable {
    case gaussianNoise = "gaussian_noise"
    case shotNoise = "shot_noise"
    case impulseNoise = "impulse_noise"
    case defocusBlur = "defocus_blur"
    case glassBlur = "glass_blur"
    case motionBlur = "motion_blur"
    case zoomBlur = "zoom_blur"
    case fog
    case brightness
    case contrast
    case elasticTransform = "elastic_transform"
    case pixelate
    case jpegCompression = "jpeg_compression"
    case rotate
    case cannyEdges = "canny_edges"

    public static let maxSeverity = 5

    /// Position in the protocol's order; part of the random key, so never reorder the cases.
    var ordinal: Int { Self.allCases.firstIndex(of: self)! }

    /// Whether the result depends on the seed (and the image index) beyond the image itself.
    public var isRandom: Bool {
        switch self {
        case .gaussianNoise, .shotNoise, .impulseNoise, .glassBlur, .motionBlur, .fog, .elasticTransform, .rotate: true
        case .defocusBlur, .zoomBlur, .brightness, .contrast, .pixelate, .jpegCompression, .cannyEdges: false
        }
    }

    /// Corrupts one 8-bit grayscale image (`width`×`height`, row-major).
    /// - Parameters:
    ///   - imageIndex: the image's index in its split (part of the random key).
    ///   - severity: 0 (identity) ... 5.
    ///   - seed: the run's corruption seed.
    public func apply<C: Collection>(
        to pixels: C, width: Int, height: Int, severity: Int, imageIndex: Int, seed: UInt64
    ) throws(CorruptionError) -> [UInt8] where C.Element == UInt8 {
        guard (0...Self.maxSeverity).contains(severity) else { throw .badSeverity(severity) }
        guard width > 0, height > 0, pixels.count == width * height else {
            throw .badImage("\(pixels.count) pixels for a \(width)×\(height) image")
        }
        if severity == 0 { return Array(pixels) }
        let level = severity - 1
        var random = BenchmarkRandom(keys: seed, UInt64(ordinal), UInt64(severity), UInt64(imageIndex))
        let plane = GrayPlane(width: width, height: height, bytes: pixels)
        let out: GrayPlane
        switch self {
        case .gaussianNoise: out = Self.gaussianNoise(plane, level: level, random: &random)
        case .shotNoise: out = Self.shotNoise(plane, level: level, random: &random)
        case .impulseNoise: out = Self.impulseNoise(plane, level: level, random: &random)
        case .defocusBlur: out = Self.defocusBlur(plane, level: level)
        case .glassBlur: out = Self.glassBlur(plane, level: level, random: &random)
        case .motionBlur: out = Self.motionBlur(plane, level: level, random: &random)
        case .zoomBlur: out = Self.zoomBlur(plane, level: level)
        case .fog: out = Self.fog(plane, level: level, random: &random)
        case .brightness: out = Self.brightness(plane, level: level)
        case .contrast: out = Self.contrast(plane, level: level)
        case .elasticTransform: out = Self.elasticTransform(plane, level: level, random: &random)
        case .pixelate: out = Self.pixelate(plane, level: level)
        case .rotate: out = Self.rotate(plane, level: level, random: &random)
        case .cannyEdges: out = Self.cannyEdges(plane, level: level)
        case .jpegCompression: return try Self.jpegCompressed(Array(pixels), width: width, height: height, level: level)
        }
        return out.bytes
    }
}

/// Why a corruption could not be applied.
public enum CorruptionError: Error, CustomStringConvertible, Equatable, Sendable {
    case badSeverity(Int)
    case badImage(String)
    case unknownName(String)
    /// libjpeg failed while encoding or decoding (jpeg_compression).
    case codec(String)

    public var description: String {
        switch self {
        case .badSeverity(let s): return "severity \(s) is outside 0...\(Corruption.maxSeverity)"
        case .badImage(let reason): return "cannot corrupt the image: \(reason)"
        case .unknownName(let name):
            return "unknown corruption \"\(name)\"; known: \(Corruption.allCases.map(\.rawValue).joined(separator: ", "))"
        case .codec(let reason): return "jpeg_compression: \(reason)"
        }
    }
}

extension Corruption {
    /// Parses a protocol name such as `gaussian_noise`.
    public init(name: String) throws(CorruptionError) {
        guard let corruption = Corruption(rawValue: name) else { throw .unknownName(name) }
        self = corruption
    }
}
