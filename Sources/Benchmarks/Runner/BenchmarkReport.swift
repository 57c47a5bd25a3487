/// Everything one `rada bench` run measured: JSON-encodable (`BenchmarkReport.json()`), with a
/// Markdown table (`markdownTable()`) and an SVG plot (`svgPlot()`). Accuracies are percentages.
public struct BenchmarkReport: Codable, Sendable, Equatable {
    /// `StreamProtocol.rawValue`.
    public var `protocol`: String
    public var batchSize: Int
    /// Domain labels in stream order ("gaussian_noise", ...; "gaussian_noise@2" for the second
    /// round of the long protocol).
    public var domains: [String]
    public var methods: [String]
    /// One entry per (method, domain), methods in run order, domains in stream order.
    public var results: [DomainResult]
    /// Per method: the mean over domains of the domain accuracies (%).
    public var mean: [String: Double]
    /// Per method: the mean over domains of the last-10 % accuracies (%).
    public var meanLast10: [String: Double]
    /// Long protocol: accuracy per method per round (pooled over the round's images).
    public var rounds: [RoundResult]
    /// Long protocol: the mean per round of each adapting method's state summary over the round's
    /// batches (absent in reports written before it was recorded, and for methods without one).
    public var roundStates: [RoundState]?
    public var timing: [MethodTiming]
    public var images: Int
    /// Peak resident memory of the process (VmHWM), bytes; nil where /proc is unavailable.
    public var peakResidentBytes: Int?
    public var command: String
    public var gitRevision: String
    /// Every seed that shaped the run ("order", "corruption", "rada", ...).
    public var seeds: [String: UInt64]
    /// The CPU and the towers' precision (absent in reports written before it was recorded).
    public var machine: String?
    /// Running accuracy along the stream, per method, for the plot.
    public var curves: [AccuracyCurve]
    /// Stream positions (images seen) where each domain starts, for the plot.
    public var domainStarts: [Int]
    /// Accuracy so far within each domain, per method (absent in reports written before it was
    /// recorded): one entry per (method, domain), in the order of `results`.
    public var domainCurves: [DomainCurve]?

    enum CodingKeys: String, CodingKey {
        case `protocol`, batchSize = "batch_size", domains, methods, results, mean, meanLast10 = "mean_last10", rounds, roundStates = "round_states", timing,
             images, peakResidentBytes = "peak_resident_bytes", command, gitRevision = "git_revision", seeds, machine, curves,
             domainStarts = "domain_starts", domainCurves = "domain_curves"
    }
}

/// One method on one domain.
public struct DomainResult: Codable, Sendable, Equatable {
    public var method: String
    public var domain: String
    public var round: Int
    /// Online accuracy, %.
    public var accuracy: Double
    public var n: Int
    public var correct: Int
    /// Accuracy over the domain's last 10 % of images (at least one), %.
    public var last10Accuracy: Double
    public var last10N: Int
    /// Mean entropy (nats) of the method's predictive distributions.
    public var meanEntropy: Double

    enum CodingKeys: String, CodingKey {
        case method, domain, round, accuracy, n, correct, last10Accuracy = "last10_accuracy", last10N = "last10_n",
             meanEntropy = "mean_entropy"
    }
}

public struct RoundResult: Codable, Sendable, Equatable {
    public var method: String
    public var round: Int
    public var accuracy: Double
    public var n: Int
}

/// One method's state summary (`TTAMethod.stateSummary`) averaged over one round's batches.
public struct RoundState: Codable, Sendable, Equatable {
    public var method: String
    public var round: Int
    public var names: [String]
    /// One per name.
    public var means: [Double]
}

/// Cost per method. The backbone part is the same for every method (features are computed once
/// per batch and shared); the adaptation part is the time inside the method's `process`.
public struct MethodTiming: Codable, Sendable, Equatable {
    public var method: String
    public var backboneSeconds: Double
    public var adaptationSeconds: Double
    public var backboneMsPerImage: Double
    public var adaptationMsPerImage: Double
    /// images / (backbone + adaptation seconds): the throughput of running this method alone.
    public var imagesPerSecond: Double
    /// Pooled over every image of the run, %.
    public var overallAccuracy: Double
    public var meanEntropy: Double

    enum CodingKeys: String, CodingKey {
        case method, backboneSeconds = "backbone_s", adaptationSeconds = "adaptation_s", backboneMsPerImage = "backbone_ms_per_image",
             adaptationMsPerImage = "adaptation_ms_per_image", imagesPerSecond = "images_per_s", overallAccuracy = "overall_accuracy",
             meanEntropy = "mean_entropy"
    }
}

/// Accuracy over a trailing window of `window` images, sampled at `positions` (images seen).
public struct AccuracyCurve: Codable, Sendable, Equatable {
    public var method: String
    public var window: Int
    public var positions: [Int]
    /// %, one per position.
    public var accuracy: [Double]
}

/// One method's accuracy over the images of one domain seen so far (%), at `positions` (images
/// of the domain seen, 1-based); the last point is the domain's accuracy.
public struct DomainCurve: Codable, Sendable, Equatable {
    public var method: String
    public var domain: String
    public var positions: [Int]
    public var accuracy: [Double]
}
