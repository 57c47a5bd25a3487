/// A whole benchmark stream: its protocol, its domains in order, and the seed that ordered it.
/// Every method of a run consumes the same plan, so they see the identical stream, order and
/// batches. A plan is a pure function of its inputs.
public struct StreamPlan: Sendable, Equatable, Codable {
    public var streamProtocol: StreamProtocol
    public var domains: [StreamDomain]
    /// The seed of the image order (and of the label-shift class runs).
    public var orderSeed: UInt64

    public var imageCount: Int { domains.reduce(0) { $0 + $1.items.count } }

    public init(streamProtocol: StreamProtocol, domains: [StreamDomain], orderSeed: UInt64) {
        self.streamProtocol = streamProtocol
        self.domains = domains
        self.orderSeed = orderSeed
    }

    /// Which images a `long` stream's later rounds take under a limit.
    public enum RoundImages: String, Sendable, CaseIterable {
        /// Each round the first `limit` images of its own shuffle of the split: the rounds differ
        /// in images as well as order.
        case fresh
        /// Each round round 1's images in a new order, as whole rounds of a split do: rounds can
        /// be compared image for image.
        case same
    }

    /// A plan over one corrupted split (Fashion-MNIST-C).
    /// - Parameters:
    ///   - labels: the split's labels (their count is the split size; label-shift orders by them).
    ///   - corruptions: the domains of per-domain / continual / long, in order; label-shift uses
    ///     the first. Defaults to all fifteen in the protocol's order.
    ///   - limit: keep the first `limit` images of each domain after its seeded shuffle.
    ///   - roundImages: with `limit`, whether a `long` stream's later rounds draw fresh images or
    ///     repeat round 1's (without a limit every round has the whole split, so both are the same).
    ///   - seed: the order seed.
    public static func corrupted(
        _ streamProtocol: StreamProtocol, labels: [Int], classes: Int, corruptions: [Corruption] = Corruption.allCases,
        severity: Int = StreamProtocol.severity, limit: Int? = nil, roundImages: RoundImages = .fresh, seed: UInt64
    ) throws(StreamPlanError) -> StreamPlan {
        guard !labels.isEmpty else { throw .empty("the split has no images") }
        guard !corruptions.isEmpty || streamProtocol == .clean else { throw .empty("no corruptions chosen") }
        guard (1...Corruption.maxSeverity).contains(severity) else { throw .badSeverity(severity) }
        if let limit, limit < 1 { throw .badLimit(limit) }
        let count = labels.count
        func items(_ order: [Int], _ corruption: Corruption?) -> [StreamItem] {
            order.prefix(limit ?? count).map { StreamItem(index: $0, corruption: corruption, severity: severity) }
        }
        var domains: [StreamDomain] = []
        switch streamProtocol {
        case .clean:
            domains = [StreamDomain(name: "clean", resetsBefore: true, items: items(shuffledOrder(count, seed: seed, keys: 0, 0), nil))]
        case .perDomain, .continual, .long:
            let rounds = streamProtocol == .long ? StreamProtocol.longRounds : 1
            for round in 0..<rounds {
                for (position, corruption) in corruptions.enumerated() {
                    var order = shuffledOrder(count, seed: seed, keys: UInt64(round), UInt64(position))
                    if roundImages == .same, let limit, round > 0 {
                        order = Array(shuffledOrder(count, seed: seed, keys: 0, UInt64(position)).prefix(limit))
                        var random = BenchmarkRandom(keys: seed, 0x6F72_6465_72, UInt64(round), UInt64(position))
                        random.shuffle(&order)
                    }
                    domains.append(StreamDomain(
                        name: corruption.rawValue, round: round,
                        resetsBefore: streamProtocol == .perDomain || (round == 0 && position == 0),
                        items: items(order, corruption)))
                }
            }
        case .labelShift:
            let order = try labelShiftOrder(labels: labels, classes: classes, seed: seed)
            domains = [StreamDomain(name: corruptions[0].rawValue, resetsBefore: true, items: items(order, corruptions[0]))]
        }
        return StreamPlan(streamProtocol: streamProtocol, domains: domains, orderSeed: seed)
    }

    /// A plan over image-folder domains (`domains:PATH`, or one folder): per-domain resets
    /// before each, continual and long run them in a row, clean treats each folder as clean data
    /// in a row. Label-shift takes the first domain. Nothing is corrupted.
    public static func folders(
        _ streamProtocol: StreamProtocol, names: [String], labels: [[Int]], classes: Int, limit: Int? = nil, seed: UInt64
    ) throws(StreamPlanError) -> StreamPlan {
        guard !names.isEmpty, names.count == labels.count else { throw .empty("no image-folder domains") }
        if let limit, limit < 1 { throw .badLimit(limit) }
        var domains: [StreamDomain] = []
        if streamProtocol == .labelShift {
            let order = try labelShiftOrder(labels: labels[0], classes: classes, seed: seed)
            domains = [StreamDomain(name: names[0], resetsBefore: true, items: order.prefix(limit ?? order.count).map { StreamItem(index: $0) })]
            return StreamPlan(streamProtocol: streamProtocol, domains: domains, orderSeed: seed)
        }
        let rounds = streamProtocol == .long ? StreamProtocol.longRounds : 1
        for round in 0..<rounds {
            for (source, name) in names.enumerated() {
                guard !labels[source].isEmpty else { throw .empty("domain \(name) has no images") }
                let order = shuffledOrder(labels[source].count, seed: seed, keys: UInt64(round), UInt64(source))
                domains.append(StreamDomain(
                    name: name, round: round, source: source,
                    resetsBefore: streamProtocol == .perDomain || (round == 0 && source == 0),
                    items: order.prefix(limit ?? order.count).map { StreamItem(index: $0) }))
            }
        }
        return StreamPlan(streamProtocol: streamProtocol, domains: domains, orderSeed: seed)
    }

    /// 0..<count shuffled by a generator keyed by the seed and the domain's position.
    static func shuffledOrder(_ count: Int, seed: UInt64, keys round: UInt64, _ position: UInt64) -> [Int] {
        var random = BenchmarkRandom(keys: seed, 0x6F72_6465_72, round, position) // "order"
        var order = Array(0..<count)
        random.shuffle(&order)
        return order
    }

    /// The label-shift order: the stream is cut into blocks of `StreamProtocol.labelShiftBlock`
    /// images; for each block, class proportions are drawn from a symmetric
    /// Dirichlet(`labelShiftConcentration`) and each image of the block takes its class from
    /// them (classes whose images are used up drop out and the rest renormalise); images of a
    /// class come in a seeded random order, and a block's images are grouped by class, in the
    /// order the classes were first drawn, so classes arrive in long runs.
    static func labelShiftOrder(labels: [Int], classes: Int, seed: UInt64) throws(StreamPlanError) -> [Int] {
        guard classes > 0 else { throw .empty("no classes") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) { throw .badLabel(bad, classes: classes) }
        var random = BenchmarkRandom(keys: seed, 0x6C_6162_656C) // "label"
        var pools = [[Int]](repeating: [], count: classes)
        for (index, label) in labels.enumerated() { pools[label].append(index) }
        for k in 0..<classes { random.shuffle(&pools[k]) }
        var next = [Int](repeating: 0, count: classes)
        var order: [Int] = []
        order.reserveCapacity(labels.count)
        while order.count < labels.count {
            let proportions = random.dirichlet(concentration: StreamProtocol.labelShiftConcentration, count: classes)
            let blockSize = min(StreamProtocol.labelShiftBlock, labels.count - order.count)
            var block = [[Int]](repeating: [], count: classes)
            var firstDrawn: [Int] = []
            for _ in 0..<blockSize {
                let available = (0..<classes).filter { next[$0] < pools[$0].count }
                var weights = available.map { proportions[$0] }
                if weights.reduce(0, +) <= 0 { weights = [Double](repeating: 1, count: available.count) }
                let k = available[pick(weights, &random)]
                if block[k].isEmpty { firstDrawn.append(k) }
                block[k].append(pools[k][next[k]])
                next[k] += 1
            }
            for k in firstDrawn { order += block[k] }
        }
        return order
    }

    /// An index drawn with probability proportional to `weights`.
    private static func pick(_ weights: [Double], _ random: inout BenchmarkRandom) -> Int {
        let total = weights.reduce(0, +)
        var u = random.uniform() * total
        for (i, w) in weights.enumerated() {
            if u < w { return i }
            u -= w
        }
        return weights.lastIndex { $0 > 0 } ?? 0
    }
}

/// Why a stream plan could not be made.
public enum StreamPlanError: Error, CustomStringConvertible, Equatable, Sendable {
    case empty(String)
    case badSeverity(Int)
    case badLimit(Int)
    case badLabel(Int, classes: Int)

    public var description: String {
        switch self {
        case .empty(let what): return "cannot build the stream: \(what)"
        case .badSeverity(let s): return "severity \(s) is outside 1...\(Corruption.maxSeverity)"
        case .badLimit(let n): return "--limit \(n) must be at least 1"
        case .badLabel(let label, let classes): return "label \(label) outside the \(classes) classes"
        }
    }
}
