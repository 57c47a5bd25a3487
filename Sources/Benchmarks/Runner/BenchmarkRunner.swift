import Foundation
import RadaNumerics

/// The features of one batch, as the caller's frozen backbone computed them.
public struct BatchFeatures: Sendable {
    /// B×D, L2-normalised rows, in the batch's item order.
    public var features: Matrix
    /// Wall time the backbone spent on this batch (decode, corrupt, preprocess, tower), measured
    /// by the caller; zero when it served the features from a cache.
    public var backboneSeconds: Double

    public init(features: Matrix, backboneSeconds: Double) {
        self.features = features
        self.backboneSeconds = backboneSeconds
    }
}

/// Facts about the run that only the caller knows, copied into the report.
public struct RunInfo: Sendable {
    public var command: String
    public var gitRevision: String
    public var seeds: [String: UInt64]
    /// The CPU and the towers' arithmetic ("AMD EPYC; towers in bf16 (AVX512-BF16)"): `auto`
    /// picks by CPU, and bf16 moves accuracies by hundredths of a point.
    public var machine: String?

    public init(command: String, gitRevision: String, seeds: [String: UInt64], machine: String? = nil) {
        self.command = command
        self.gitRevision = gitRevision
        self.seeds = seeds
        self.machine = machine
    }
}

/// Runs several methods side by side over one stream plan: for every batch the caller's
/// backbone computes the features once, and each method predicts (online) then adapts on them.
/// Methods are reset before domains that ask for it (per-domain protocol) and never otherwise.
public struct BenchmarkRunner: Sendable {
    public var plan: StreamPlan
    public var batchSize: Int
    public var methods: [any TTAMethod]
    /// Trailing window of the plotted running accuracy; nil chooses max(20, images/100).
    public var curveWindow: Int?
    /// Most points per plotted curve.
    public var curvePoints = 1000
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    public var showsProgress = true

    public init(plan: StreamPlan, batchSize: Int, methods: [any TTAMethod]) {
        self.plan = plan
        self.batchSize = batchSize
        self.methods = methods
    }

    /// Runs the stream.
    /// - Parameters:
    ///   - labels: true classes, `labels[domain.source][item.index]` (Fashion-MNIST: one array).
    ///   - info: command, git revision and seeds for the report.
    ///   - features: the backbone: features for a batch of items of a domain.
    /// - Returns: the report; the methods are left in their end-of-stream state.
    public mutating func run(
        labels: [[Int]], info: RunInfo,
        features: (_ domain: StreamDomain, _ batch: ArraySlice<StreamItem>) throws -> BatchFeatures
    ) throws -> BenchmarkReport {
        guard batchSize > 0 else { throw BenchmarkError.invalid("batch size \(batchSize) must be positive") }
        guard !methods.isEmpty else { throw BenchmarkError.invalid("no methods to run") }
        let names = methods.map(\.name)
        guard Set(names).count == names.count else { throw BenchmarkError.invalid("method names repeat: \(names)") }
        var tally = StreamTally(methods: methods.count, domains: plan.domains)
        var progress = ProgressBar(total: plan.imageCount, enabled: showsProgress)
        var done = 0
        for (d, domain) in plan.domains.enumerated() {
            if domain.resetsBefore { for m in methods.indices { methods[m].reset() } }
            guard domain.source < labels.count else {
                throw BenchmarkError.invalid("domain \(domain.name) reads label set \(domain.source), only \(labels.count) given")
            }
            for batch in domain.batches(of: batchSize) {
                let truth = try batch.map { item -> Int in
                    guard item.index >= 0, item.index < labels[domain.source].count else {
                        throw BenchmarkError.invalid("image \(item.index) has no label in set \(domain.source)")
                    }
                    return labels[domain.source][item.index]
                }
                let computed = try features(domain, batch)
                guard computed.features.rows == batch.count else {
                    throw BenchmarkError.invalid("the backbone returned \(computed.features.rows) feature rows for \(batch.count) images")
                }
                tally.backboneSeconds += computed.backboneSeconds
                for m in methods.indices {
                    let start = DispatchTime.now().uptimeNanoseconds
                    let logits = try methods[m].process(features: computed.features, labels: truth)
                    tally.adaptationSeconds[m] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    guard logits.rows == batch.count else {
                        throw BenchmarkError.invalid("\(names[m]) returned \(logits.rows) logit rows for \(batch.count) images")
                    }
                    tally.record(method: m, domain: d, logits: logits, labels: truth)
                    if plan.domains.last.map({ $0.round > 0 }) == true {
                        tally.recordState(method: m, domain: d, summary: methods[m].stateSummary)
                    }
                }
                done += batch.count
                progress.update(done: done, detail: domain.name)
            }
        }
        progress.finish()
        return tally.report(
            plan: plan, batchSize: batchSize, methods: names, info: info,
            window: curveWindow ?? max(20, plan.imageCount / 100), points: curvePoints)
    }
}

public enum BenchmarkError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let reason): return "benchmark: \(reason)"
        }
    }
}
