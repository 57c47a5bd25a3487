import Adaptation
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import RadaNumerics
import Testing
@testable import Benchmarks

/// Synthetic stream: K = 3 classes with text embeddings e₀, e₁, e₂ in D = 16; an image of class
/// k in domain d has the feature normalise(e_k + shift_d·e₀ + 0.25·noise). Domain "clean" has no
/// shift, domain "shifted" pulls every image towards class 0, so zero-shot accuracy drops.
struct SyntheticStream {
    static let classes = 3
    static let dimension = 16
    static let perDomain = 90
    let labels: [[Int]]
    let features: [[[Float]]] // [domain][index] → D values
    let text: Matrix

    init() {
        var random = BenchmarkRandom(keys: 2024)
        var text = Matrix(rows: Self.classes, cols: Self.dimension)
        for k in 0..<Self.classes { text[k, k] = 1 }
        self.text = text
        var labels: [[Int]] = []
        var features: [[[Float]]] = []
        for shift in [Float(0), 0.9] {
            var domainLabels: [Int] = []
            var domainFeatures: [[Float]] = []
            for i in 0..<Self.perDomain {
                let k = i % Self.classes
                var f = (0..<Self.dimension).map { _ in Float(0.25 * random.normal()) }
                f[k] += 1
                f[0] += shift
                let norm = f.reduce(0) { $0 + $1 * $1 }.squareRoot()
                domainLabels.append(k)
                domainFeatures.append(f.map { $0 / norm })
            }
            labels.append(domainLabels)
            features.append(domainFeatures)
        }
        self.labels = labels
        self.features = features
    }

    func batch(_ domain: StreamDomain, _ items: ArraySlice<StreamItem>) -> BatchFeatures {
        let rows = items.flatMap { features[domain.source][$0.index] }
        return BatchFeatures(features: Matrix(rows: items.count, cols: Self.dimension, storage: rows), backboneSeconds: 0.001 * Double(items.count))
    }

    /// Zero-shot correctness computed directly from the definition (argmax of f·tᵀ).
    func zeroShotCorrect(domain: Int, indices: [Int]) -> Int {
        indices.filter { i in
            let f = features[domain][i]
            let scores = (0..<Self.classes).map { f[$0] }
            return scores.indices.max { scores[$0] < scores[$1] }! == labels[domain][i]
        }.count
    }
}

/// Predicts class `constant` for every image (or the true class when `cheat`), and records what
/// it saw, to check that every method gets the same batches and the resets.
struct SpyMethod: TTAMethod {
    let name: String
    var constant: Int?
    var seen: [Matrix] = []
    var resets = 0

    mutating func process(features: Matrix, labels: [Int]) throws -> Matrix {
        seen.append(features)
        var logits = Matrix(rows: features.rows, cols: SyntheticStream.classes)
        for b in 0..<features.rows { logits[b, constant ?? labels[b]] = 1 }
        return logits
    }

    mutating func reset() { resets += 1 }
}

@Suite struct BenchmarkRunnerTests {
    let stream = SyntheticStream()
    let info = RunInfo(command: "rada bench --synthetic", gitRevision: "abc123", seeds: ["order": 5], machine: "Test CPU; towers in fp32")

    func plan(_ kind: StreamProtocol) throws -> StreamPlan {
        try StreamPlan.folders(kind, names: ["clean", "shifted"], labels: stream.labels, classes: 3, seed: 5)
    }

    @Test func accuraciesMatchTheirDefinitionsAndJSONHasTheDocumentedShape() throws {
        let plan = try plan(.perDomain)
        var runner = BenchmarkRunner(
            plan: plan, batchSize: 16,
            methods: [
                ZeroShotMethod(textEmbeddings: stream.text, logitScale: 100), SpyMethod(name: "always-0", constant: 0),
                SpyMethod(name: "cheat"),
            ])
        runner.showsProgress = false
        let report = try runner.run(labels: stream.labels, info: info) { stream.batch($0, $1) }

        #expect(report.domains == ["clean", "shifted"])
        #expect(report.methods == ["zero-shot", "always-0", "cheat"])
        #expect(report.results.count == 6)
        for (d, domain) in plan.domains.enumerated() {
            let indices = domain.items.map(\.index)
            let zeroShot = report.results.first { $0.method == "zero-shot" && $0.domain == domain.name }!
            let expected = stream.zeroShotCorrect(domain: d, indices: indices)
            #expect(zeroShot.correct == expected)
            #expect(zeroShot.n == 90)
            #expect(abs(zeroShot.accuracy - 100 * Double(expected) / 90) < 1e-9)
            // Last 10 %: the final ⌈90/10⌉ = 9 images of the domain's order.
            #expect(zeroShot.last10N == 9)
            #expect(zeroShot.last10Accuracy == 100 * Double(stream.zeroShotCorrect(domain: d, indices: Array(indices.suffix(9)))) / 9)
            let constant = report.results.first { $0.method == "always-0" && $0.domain == domain.name }!
            #expect(abs(constant.accuracy - 100.0 / 3) < 1e-9) // one image in three is class 0
            // Spy logits are one-hot 1 vs 0: entropy of softmax([1, 0, 0]).
            let e = exp(1.0)
            let h = -(e / (e + 2)) * log(e / (e + 2)) - 2 * (1 / (e + 2)) * log(1 / (e + 2))
            #expect(abs(constant.meanEntropy - h) < 1e-9)
        }
        let clean = report.results.first { $0.method == "zero-shot" && $0.domain == "clean" }!
        let shifted = report.results.first { $0.method == "zero-shot" && $0.domain == "shifted" }!
        #expect(clean.accuracy > 90 && shifted.accuracy < 80, "the shift must hurt zero-shot: \(clean.accuracy) → \(shifted.accuracy)")
        #expect(report.mean["cheat"] == 100)
        #expect(abs(report.mean["zero-shot"]! - (clean.accuracy + shifted.accuracy) / 2) < 1e-9)
        let timing = report.timing.first { $0.method == "zero-shot" }!
        #expect(abs(timing.backboneSeconds - 0.18) < 1e-9)
        #expect(abs(timing.backboneMsPerImage - 1) < 1e-9)
        #expect(report.peakResidentBytes.map { $0 > 1_000_000 } ?? true)

        let object = try JSONSerialization.jsonObject(with: report.json()) as! [String: Any]
        for key in ["protocol", "batch_size", "domains", "results", "mean", "command", "git_revision", "seeds", "timing", "curves"] {
            #expect(object[key] != nil, "JSON lacks \(key)")
        }
        #expect(object["protocol"] as? String == "per-domain")
        #expect(object["batch_size"] as? Int == 16)
        #expect(object["git_revision"] as? String == "abc123")
        #expect(object["machine"] as? String == "Test CPU; towers in fp32")
        #expect(report.markdownTable().hasPrefix("Protocol `per-domain`, batch size 16, 180 images, git abc123, Test CPU; towers in fp32"))
        #expect((object["seeds"] as? [String: Any])?["order"] as? Int == 5)
        let first = (object["results"] as! [[String: Any]])[0]
        for key in ["method", "domain", "accuracy", "n", "last10_accuracy", "mean_entropy"] { #expect(first[key] != nil, "result lacks \(key)") }
        #expect(try JSONDecoder().decode(BenchmarkReport.self, from: report.json()) == report)
    }

    @Test func everyMethodSeesTheSameBatchesAndResetsFollowTheProtocol() throws {
        for (kind, expectedResets) in [(StreamProtocol.perDomain, 2), (.continual, 1), (.long, 1)] {
            var runner = BenchmarkRunner(plan: try plan(kind), batchSize: 64, methods: [SpyMethod(name: "a"), SpyMethod(name: "b", constant: 1)])
            runner.showsProgress = false
            let report = try runner.run(labels: stream.labels, info: info) { stream.batch($0, $1) }
            let a = runner.methods[0] as! SpyMethod
            let b = runner.methods[1] as! SpyMethod
            #expect(a.seen == b.seen)
            #expect(a.seen.map(\.rows) == [[Int]](repeating: [64, 26], count: kind == .long ? 20 : 2).flatMap { $0 })
            #expect(a.resets == expectedResets && b.resets == expectedResets)
            if kind == .long {
                #expect(report.rounds.count == 20) // 2 methods × 10 rounds
                #expect(report.domains[2] == "clean@2")
                #expect(report.rounds.allSatisfy { $0.n == 180 })
            }
        }
    }

    /// The long protocol reports each adapting method's state per round, the mean over the
    /// round's batches: 10 rounds for rada, none for zero-shot; a single-round protocol none.
    /// The state starts at the base (attention maps uniform in ±1/√D: RMS 1/√(3D) = 0.144 at
    /// D = 16; output map 0). With a decay that dominates (lr·wd = 0.1 per step, so the maps
    /// keep 0.9^120 ≈ 3e-6 of their start after the 120 steps, and Adam's steps of about lr hold
    /// them near lr/(lr·wd) = 0.01) the attention maps shrink to a fraction of round 1's mean,
    /// which the decay towards the initial maps prevents.
    @Test func longProtocolReportsTheStatePerRound() throws {
        func run(_ kind: StreamProtocol, towardsInitial: Bool = false) throws -> BenchmarkReport {
            var h = RAdaHyperparameters()
            // The step gate off: this stream's zero-shot is sure of its images, and the test is
            // about the steps' state.
            h.stepGate = StepGate()
            h.optimizer = OptimizerSettings(kind: .adamW, learningRate: 1e-3, weightDecay: 100, decayTowardsInitial: towardsInitial)
            let state = try StreamState(labels: ["a", "b", "c"], textEmbeddings: stream.text, logitScale: 100, heads: 2, hyperparameters: h, seed: 1)
            #expect(abs(state.summary.attentionMapsRMS - 1 / (3.0 * 16).squareRoot()) < 0.02)
            #expect(state.summary.outputMapRMS == 0 && state.summary.gradientRMS == 0 && state.summary.normalisedStepRMS == 0)
            var runner = BenchmarkRunner(
                plan: try plan(kind), batchSize: 16, methods: [ZeroShotMethod(textEmbeddings: stream.text, logitScale: 100), RAdaMethod(state: state)])
            runner.showsProgress = false
            return try runner.run(labels: stream.labels, info: info) { stream.batch($0, $1) }
        }
        #expect(try run(.continual).roundStates == nil)
        let report = try run(.long)
        let states = try #require(report.roundStates)
        #expect(states.map(\.round) == Array(0..<10) && states.allSatisfy { $0.method == "rada" })
        #expect(states[0].names == ["attention maps RMS", "output map RMS", "Adam √v̂", "Adam step RMS", "stored_states", "shifts", "restores"])
        let attention = states.map { $0.means[0] }
        #expect(attention[9] < 0.5 * attention[0], "\(attention)")
        #expect(states.allSatisfy { $0.means[1] > 0 && $0.means[2] > 0 && $0.means[3] > 0 })
        #expect(report.markdownTable().contains("| rada, round 10 |"))
        #expect(try JSONDecoder().decode(BenchmarkReport.self, from: report.json()) == report)
        let kept = try #require(try run(.long, towardsInitial: true).roundStates).map { $0.means[0] }
        #expect(kept[9] > 0.9 * kept[0], "\(kept)")
    }

    /// RAda and its oracle through the engine's StreamState, TDA and zero-shot side by side, at
    /// batch size 1 as the protocol requires: the oracle, which steps on the true labels, must
    /// beat zero-shot on the shifted domain's last 10 %, and the run must be reproducible.
    @Test func engineMethodsRunSideBySide() throws {
        func run() throws -> BenchmarkReport {
            let state = try StreamState(labels: ["a", "b", "c"], textEmbeddings: stream.text, logitScale: 100, heads: 2, seed: 1)
            var runner = BenchmarkRunner(
                plan: try plan(.continual), batchSize: 1,
                methods: [
                    ZeroShotMethod(textEmbeddings: stream.text, logitScale: 100),
                    try TDAMethod(textEmbeddings: stream.text, logitScale: 100),
                    RAdaMethod(state: state), RAdaMethod(state: state, oracle: true),
                ])
            runner.showsProgress = false
            return try runner.run(labels: stream.labels, info: info) { stream.batch($0, $1) }
        }
        let report = try run()
        #expect(report.methods == ["zero-shot", "tda", "rada", "oracle"])
        func result(_ method: String, _ domain: String) -> DomainResult { report.results.first { $0.method == method && $0.domain == domain }! }
        // Before any step the engine's mask is the identity: the first prediction equals zero-shot,
        // so on the clean domain (high zero-shot accuracy) rada stays within a few images.
        #expect(abs(result("rada", "clean").accuracy - result("zero-shot", "clean").accuracy) < 10)
        #expect(result("oracle", "shifted").last10Accuracy > result("zero-shot", "shifted").last10Accuracy,
                "oracle \(result("oracle", "shifted").last10Accuracy) vs zero-shot \(result("zero-shot", "shifted").last10Accuracy)")
        var again = try run()
        again.timing = report.timing
        again.peakResidentBytes = report.peakResidentBytes
        #expect(again == report)
    }

    @Test func outputsAreWrittenAndTheSVGIsWellFormed() throws {
        var runner = BenchmarkRunner(plan: try plan(.continual), batchSize: 16, methods: [ZeroShotMethod(textEmbeddings: stream.text, logitScale: 100), SpyMethod(name: "cheat")])
        runner.showsProgress = false
        runner.curveWindow = 30
        let report = try runner.run(labels: stream.labels, info: info) { stream.batch($0, $1) }
        let curve = report.curves[1]
        #expect(curve.window == 30 && curve.positions.last == 180)
        #expect(curve.accuracy.allSatisfy { $0 == 100 })
        #expect(report.domainStarts == [0, 90])
        let directory = try temporaryDirectory("report")
        defer { try? FileManager.default.removeItem(at: directory) }
        try report.write(to: directory)
        let svg = try String(contentsOf: directory.appendingPathComponent("accuracy.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<polyline").count == 3) // one per method
        #expect(svg.contains("stroke-dasharray")) // the boundary at image 90
        #expect(svg.contains("accuracy (%)") && svg.contains("images seen"))
        _ = try XMLDocument(data: Data(svg.utf8)) // parses as XML
        let markdown = try String(contentsOf: directory.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("| domain | zero-shot | cheat |"))
        #expect(markdown.contains("| **mean** |"))
    }

    @Test func tdaAddsTheFirstImageToItsOwnPositiveCache() throws {
        var tda = try TDAMethod(textEmbeddings: stream.text, logitScale: 100)
        let batch = stream.batch(StreamDomain(name: "clean", resetsBefore: true, items: []), [StreamItem(index: 0)]).features
        let zeroShot = try ZeroShotMethod(textEmbeddings: stream.text, logitScale: 100).process(features: batch, labels: [0])
        let logits = try tda.process(features: batch, labels: [0])
        // A confident image (entropy far below the negative band) enters only the positive cache;
        // its affinity with itself is exp(−β·0) = 1, so α⁺ = 2 is added to its pseudo-label.
        let predicted = (0..<3).max { zeroShot[0, $0] < zeroShot[0, $1] }!
        for k in 0..<3 { #expect(abs(logits[0, k] - zeroShot[0, k] - (k == predicted ? 2 : 0)) < 1e-4) }
        #expect(tda.positiveEntries == 1 && tda.negativeEntries == 0)
        // Caches never exceed their shots per class, and reset empties them.
        for i in 0..<90 { _ = try tda.process(features: stream.batch(StreamDomain(name: "x", source: 1, resetsBefore: false, items: []), [StreamItem(index: i)]).features, labels: [0]) }
        #expect(tda.positiveEntries <= 3 * 3 && tda.negativeEntries <= 2 * 3)
        tda.reset()
        #expect(tda.positiveEntries == 0 && tda.negativeEntries == 0)
    }

    @Test func tdaReplacesTheHighestEntropyEntryOnlyWithAMoreConfidentOne() {
        func entry(_ h: Float) -> TDAMethod.Entry { TDAMethod.Entry(key: [h], entropy: h, value: [1]) }
        var entries = [entry(0.3), entry(0.1)]
        TDAMethod.insert(entry(0.2), into: &entries, shot: 3)
        #expect(entries.map(\.entropy) == [0.3, 0.1, 0.2])
        TDAMethod.insert(entry(0.25), into: &entries, shot: 3)
        #expect(entries.map(\.entropy) == [0.25, 0.1, 0.2])
        TDAMethod.insert(entry(0.9), into: &entries, shot: 3)
        #expect(entries.map(\.entropy) == [0.25, 0.1, 0.2])
    }
}
