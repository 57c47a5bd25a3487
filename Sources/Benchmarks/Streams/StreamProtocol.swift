/// The five stream protocols of Docs/benchmarks-protocol.md.
public enum StreamProtocol: String, CaseIterable, Sendable, Codable {
    /// Each corruption at severity 5 is its own stream, from a reset state (Tent).
    case perDomain = "per-domain"
    /// The corruptions at severity 5 one after another, never reset (CoTTA).
    case continual
    /// One corruption at severity 5, classes arriving in long runs (Dirichlet per block).
    case labelShift = "label-shift"
    /// The continual sequence repeated `longRounds` times (RDumb / CCC).
    case long
    /// The uncorrupted split.
    case clean

    /// How many times `long` repeats the continual sequence.
    public static let longRounds = 10
    /// The severity of every corrupted protocol.
    public static let severity = 5
    /// Dirichlet concentration of the label-shift protocol (NOTE / SAR / RoTTA use 0.1).
    public static let labelShiftConcentration = 0.1
    /// Images per Dirichlet block of the label-shift protocol.
    public static let labelShiftBlock = 100
    /// The batch sizes the protocol reports.
    public static let batchSizes = [1, 16, 64]
}

/// One image of a stream: which image of the split, and how it is corrupted.
public struct StreamItem: Sendable, Equatable, Hashable, Codable {
    /// Index into the split (or, for image-folder domains, into that domain's folder).
    public var index: Int
    /// nil: the clean image.
    public var corruption: Corruption?
    /// 0 (clean) ... 5.
    public var severity: Int

    public init(index: Int, corruption: Corruption? = nil, severity: Int = 0) {
        self.index = index
        self.corruption = corruption
        self.severity = corruption == nil ? 0 : severity
    }
}

/// A contiguous part of a stream with one distribution: one corruption (in one round), one
/// image folder, or the clean split.
public struct StreamDomain: Sendable, Equatable, Codable {
    /// "gaussian_noise", "clean", a folder name...
    public var name: String
    /// 0-based repetition (the long protocol); 0 otherwise.
    public var round: Int
    /// Which image-folder domain the indices refer to (0 for Fashion-MNIST, whose indices all
    /// point into the one split).
    public var source: Int
    /// True when every method is reset before this domain (per-domain protocol).
    public var resetsBefore: Bool
    public var items: [StreamItem]

    public init(name: String, round: Int = 0, source: Int = 0, resetsBefore: Bool, items: [StreamItem]) {
        self.name = name
        self.round = round
        self.source = source
        self.resetsBefore = resetsBefore
        self.items = items
    }

    /// The items cut into consecutive batches of `size` (the last may be shorter). A batch never
    /// spans two domains.
    public func batches(of size: Int) -> [ArraySlice<StreamItem>] {
        precondition(size > 0, "batch size must be positive")
        return stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
    }
}
