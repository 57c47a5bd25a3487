import Foundation
import RadaNumerics

/// The running counts of a benchmark run, turned into a report at the end.
struct StreamTally {
    let domains: [StreamDomain]
    /// Per method, one byte per image seen so far (1: correct), in stream order.
    var correctness: [[UInt8]]
    /// Per method, per domain.
    var correct: [[Int]]
    var seen: [[Int]]
    var lastCorrect: [[Int]]
    var lastSeen: [[Int]]
    var entropySum: [[Double]]
    var backboneSeconds = 0.0
    var adaptationSeconds: [Double]
    /// Per method, per round: the state summary's names, the sums of its values over the round's
    /// batches, and the batch count (empty for methods without a summary).
    var stateNames: [[String]]
    var stateSums: [[Int: [Double]]]
    var stateBatches: [[Int: Int]]

    init(methods: Int, domains: [StreamDomain]) {
        self.domains = domains
        let zeros = [Int](repeating: 0, count: domains.count)
        correctness = [[UInt8]](repeating: [], count: methods)
        correct = [[Int]](repeating: zeros, count: methods)
        seen = correct
        lastCorrect = correct
        lastSeen = correct
        entropySum = [[Double]](repeating: [Double](repeating: 0, count: domains.count), count: methods)
        adaptationSeconds = [Double](repeating: 0, count: methods)
        stateNames = [[String]](repeating: [], count: methods)
        stateSums = [[Int: [Double]]](repeating: [:], count: methods)
        stateBatches = [[Int: Int]](repeating: [:], count: methods)
    }

    /// Adds a method's state after a batch of domain `d` to its round's means.
    mutating func recordState(method m: Int, domain d: Int, summary: [(name: String, value: Double)]) {
        guard !summary.isEmpty else { return }
        let round = domains[d].round
        stateNames[m] = summary.map(\.name)
        var sums = stateSums[m][round] ?? [Double](repeating: 0, count: summary.count)
        guard sums.count == summary.count else { return }
        for (i, entry) in summary.enumerated() { sums[i] += entry.value }
        stateSums[m][round] = sums
        stateBatches[m][round, default: 0] += 1
    }

    /// Images of a domain that count as its last 10 %: ⌈n/10⌉, at least one.
    static func lastCount(_ n: Int) -> Int { max(1, (n + 9) / 10) }

    mutating func record(method m: Int, domain d: Int, logits: Matrix, labels: [Int]) {
        let classes = logits.cols
        let n = domains[d].items.count
        let lastStart = n - Self.lastCount(n)
        for (b, label) in labels.enumerated() {
            let row = logits.storage[(b * classes)..<((b + 1) * classes)]
            let hit = Kernels.argmax(row) == label
            let position = seen[m][d]
            seen[m][d] += 1
            if hit { correct[m][d] += 1 }
            if position >= lastStart {
                lastSeen[m][d] += 1
                if hit { lastCorrect[m][d] += 1 }
            }
            entropySum[m][d] += Kernels.entropy(logits: row)
            correctness[m].append(hit ? 1 : 0)
        }
    }

    func report(plan: StreamPlan, batchSize: Int, methods: [String], info: RunInfo, window: Int, points: Int) -> BenchmarkReport {
        let rounds = (domains.map(\.round).max() ?? 0) + 1
        let labels = domains.map { rounds > 1 ? "\($0.name)@\($0.round + 1)" : $0.name }
        var results: [DomainResult] = []
        var mean: [String: Double] = [:]
        var meanLast10: [String: Double] = [:]
        var roundResults: [RoundResult] = []
        var roundStates: [RoundState] = []
        var timing: [MethodTiming] = []
        let images = plan.imageCount
        for (m, method) in methods.enumerated() {
            for d in domains.indices {
                results.append(DomainResult(
                    method: method, domain: labels[d], round: domains[d].round,
                    accuracy: Self.percent(correct[m][d], seen[m][d]), n: seen[m][d], correct: correct[m][d],
                    last10Accuracy: Self.percent(lastCorrect[m][d], lastSeen[m][d]), last10N: lastSeen[m][d],
                    meanEntropy: seen[m][d] > 0 ? entropySum[m][d] / Double(seen[m][d]) : 0))
            }
            let mine = results.suffix(domains.count)
            mean[method] = mine.map(\.accuracy).reduce(0, +) / Double(max(1, domains.count))
            meanLast10[method] = mine.map(\.last10Accuracy).reduce(0, +) / Double(max(1, domains.count))
            if rounds > 1 {
                for r in 0..<rounds {
                    let ds = domains.indices.filter { domains[$0].round == r }
                    let c = ds.reduce(0) { $0 + correct[m][$1] }
                    let n = ds.reduce(0) { $0 + seen[m][$1] }
                    roundResults.append(RoundResult(method: method, round: r, accuracy: Self.percent(c, n), n: n))
                    if let sums = stateSums[m][r], let batches = stateBatches[m][r], batches > 0 {
                        roundStates.append(RoundState(method: method, round: r, names: stateNames[m], means: sums.map { $0 / Double(batches) }))
                    }
                }
            }
            let perImage = { (seconds: Double) in images > 0 ? 1000 * seconds / Double(images) : 0 }
            let total = backboneSeconds + adaptationSeconds[m]
            timing.append(MethodTiming(
                method: method, backboneSeconds: backboneSeconds, adaptationSeconds: adaptationSeconds[m],
                backboneMsPerImage: perImage(backboneSeconds), adaptationMsPerImage: perImage(adaptationSeconds[m]),
                imagesPerSecond: total > 0 ? Double(images) / total : 0,
                overallAccuracy: Self.percent(correct[m].reduce(0, +), seen[m].reduce(0, +)),
                meanEntropy: entropySum[m].reduce(0, +) / Double(max(1, seen[m].reduce(0, +)))))
        }
        var starts: [Int] = []
        var position = 0
        for domain in domains {
            starts.append(position)
            position += domain.items.count
        }
        return BenchmarkReport(
            protocol: plan.streamProtocol.rawValue, batchSize: batchSize, domains: labels, methods: methods, results: results,
            mean: mean, meanLast10: meanLast10, rounds: roundResults, roundStates: roundStates.isEmpty ? nil : roundStates, timing: timing, images: images,
            peakResidentBytes: ProcessResources.peakResidentBytes, command: info.command, gitRevision: info.gitRevision,
            seeds: info.seeds, machine: info.machine,
            curves: methods.indices.map { Self.curve(methods[$0], correctness[$0], window: window, points: points) },
            domainStarts: starts,
            domainCurves: methods.indices.flatMap { m in
                domains.indices.map { d in
                    let start = min(starts[d], correctness[m].count)
                    let end = min(start + seen[m][d], correctness[m].count)
                    return Self.domainCurve(methods[m], labels[d], correctness[m][start..<end], points: Self.domainCurvePoints)
                }
            })
    }

    static func percent(_ correct: Int, _ n: Int) -> Double { n > 0 ? 100 * Double(correct) / Double(n) : 0 }

    /// Accuracy over the trailing `window` images (fewer at the very start), at up to `points`
    /// evenly spaced stream positions, always including the last.
    static func curve(_ method: String, _ hits: [UInt8], window: Int, points: Int) -> AccuracyCurve {
        var prefix = [Int](repeating: 0, count: hits.count + 1)
        for (i, hit) in hits.enumerated() { prefix[i + 1] = prefix[i] + Int(hit) }
        let count = hits.count
        guard count > 0 else { return AccuracyCurve(method: method, window: window, positions: [], accuracy: []) }
        let step = max(1, count / max(1, points))
        var positions = Array(stride(from: step, through: count, by: step))
        if positions.last != count { positions.append(count) }
        let accuracy = positions.map { end -> Double in
            let start = max(0, end - window)
            return percent(prefix[end] - prefix[start], end - start)
        }
        return AccuracyCurve(method: method, window: window, positions: positions, accuracy: accuracy)
    }
}

extension StreamTally {
    /// Points per domain curve: enough to show the shape, few enough for 150 domains × methods.
    static let domainCurvePoints = 50

    /// Accuracy over a domain's first n images at up to `points` evenly spaced n, always including
    /// the last (the domain's accuracy).
    static func domainCurve(_ method: String, _ domain: String, _ hits: ArraySlice<UInt8>, points: Int) -> DomainCurve {
        let count = hits.count
        // Rounded up, so that there are at most `points` (+ the last) whatever the domain's size.
        let step = max(1, (count + max(1, points) - 1) / max(1, points))
        var positions = Array(stride(from: step, through: count, by: step))
        if count > 0, positions.last != count { positions.append(count) }
        var correct = 0
        var accuracy: [Double] = []
        var next = positions.startIndex
        for (i, hit) in hits.enumerated() {
            correct += Int(hit)
            if next < positions.endIndex, positions[next] == i + 1 {
                accuracy.append(percent(correct, i + 1))
                next += 1
            }
        }
        return DomainCurve(method: method, domain: domain, positions: positions, accuracy: accuracy)
    }
}
