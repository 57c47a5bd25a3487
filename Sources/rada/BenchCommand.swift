import Adaptation
import ArgumentParser
import Benchmarks
import CLIP
import Foundation
import RadaNumerics
import Imaging

/// `rada bench`: online test-time-adaptation accuracy over a stream, every method on the
/// identical stream, the frozen backbone's features computed once per image and shared.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark TTA accuracy over a stream: zero-shot, rada, tda, dota and oracle side by side.",
        discussion: "Protocols and metrics: Docs/benchmarks-protocol.md. Results: Docs/benchmarks.md.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "fashion-mnist, folder:PATH (one domain, a subfolder per class) or domains:PATH (a subfolder per domain).")
    var dataset = "fashion-mnist"
    @Option(help: "Fashion-MNIST split: test (the benchmark) or train (validation streams for choosing hyper-parameters).")
    var split = "test"
    @Option(name: .customLong("protocol"), help: "per-domain, continual, label-shift, long or clean.")
    var streamProtocol = "per-domain"
    @Option(help: "Comma-separated methods: zero-shot, rada, tda, dota, rada+dota (both adjustments added), oracle.")
    var methods = "zero-shot,rada,tda,dota,oracle"
    @Option(help: "Images per batch.") var batchSize = 64
    @Option(help: "Only the first N images of each domain (after the seeded shuffle).") var limit: Int?
    @Option(name: .customLong("round-images"), help: "With --limit, the long protocol's later rounds: fresh (the first N of each round's own shuffle) or same (round 1's images in a new order, as whole rounds are).")
    var roundImages: String = StreamPlan.RoundImages.fresh.rawValue
    @Option(help: "Seed of the stream order.") var seed: UInt64 = 0
    @Option(help: "Seed of the corruptions.") var corruptionSeed: UInt64 = 0
    @Option(help: "Corruption severity (1...5) for Fashion-MNIST.") var severity = StreamProtocol.severity
    @Option(help: "Comma-separated corruptions (default: all fifteen in the protocol's order).") var corruptions: String?
    @Option(help: "Prompt template with {} (repeatable). Default: the model's own ensemble.") var template: [String] = []
    @Option(help: "Directory for report.json, report.md, report.html and accuracy.svg.") var out: String?
    @Option(help: "Also write the JSON report here.") var json: String?
    @Option(help: "Also write the SVG plot here.") var plot: String?
    @Flag(help: "No progress bar.") var quiet = false
    @Option(help: ArgumentHelp(
        "An extra rada method NAME=OPTIONS on the same stream (repeatable), e.g. 'slow=--lr 1e-3 --diversity 2'.",
        discussion: "OPTIONS are RAda hyper-parameter options (as for rada) applied to the engine's defaults, not to the command's own RAda options."))
    var variant: [String] = []
    @Option(name: .customLong("dota-variant"), help: ArgumentHelp(
        "An extra DOTA method NAME=KEY:VALUE,... on the same stream (repeatable), e.g. 'dota-slow=rho:0.01,eta:1'.",
        discussion: "Keys: rho, eta, variance (initial variance × 1/D), shrinkage, forgetting (γ of the evidence), gated (1: each class forgets in proportion to its evidence), shift (entropy-jump reset threshold θ), fast, slow (its windows in images), labels (1: pseudo-labels from the fused prediction), confident (E: learn only images whose pseudo-label entropy is below E·log K, with a hard label), prior (1: evidence balanced by the running class prior), priorwindow (its memory in images), coverage (P: fusion weight × (H(q̄)/log K)^P); unnamed keys keep DOTA's defaults."))
    var dotaVariant: [String] = []
    @Option(name: .customLong("fusion-variant"), help: ArgumentHelp(
        "An extra rada+dota fusion NAME=KEY:VALUE,... on the same stream (repeatable): rada with the command's RAda options, DOTA with these keys.",
        discussion: "Keys as for --dota-variant, e.g. 'fuse-forget=forgetting:0.998', centred (1: DOTA models the mask's centred and whitened embeddings; labels:1 then takes the mask's logits plus DOTA's adjustment) and gate (1: DOTA's fusion weight × rada's centring gate)."))
    var fusionVariant: [String] = []
    @Option(name: .customLong("memory-variant"), help: ArgumentHelp(
        "An extra rada method with its own memory of domains, NAME=THRESHOLD[/CAPACITY[/KEY]] or NAME=off (repeatable), e.g. 'mem=0.05/16/per-class' or 'nomem=off': rada with the command's RAda options and this memory of domains (the stream's domainMemory).",
        discussion: "off: no memory; THRESHOLD: the cosine distance between a batch and the current domain's running key that counts as a shift, in (0, 2]; CAPACITY: states kept at most, 1...\(DomainMemory.maxCapacity) (default 16); KEY: batch-mean (default: the batch's mean feature direction) or per-class (a mean direction per zero-shot class, compared on the classes the batch and the key share)."))
    var memoryVariant: [String] = []
    @OptionGroup(title: "RAda hyper-parameters") var rada: RAdaOptions

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if StreamProtocol(rawValue: streamProtocol) == nil {
            throw ValidationError("--protocol must be one of \(StreamProtocol.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for name in methodList where !Self.methodNames.contains(name) {
            throw ValidationError("unknown method \(name); choose from \(Self.methodNames.joined(separator: ", "))")
        }
        if methodList.isEmpty { throw ValidationError("--methods names no method") }
        if StreamPlan.RoundImages(rawValue: roundImages) == nil {
            throw ValidationError("--round-images must be one of \(StreamPlan.RoundImages.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try variants()
        _ = try dotaVariants(dotaVariant, flag: "--dota-variant")
        _ = try fusionVariants()
        _ = try memoryVariants()
    }

    /// `--memory-variant NAME=THRESHOLD[/CAPACITY[/KEY]]` or `NAME=off`.
    func memoryVariants() throws -> [(name: String, settings: DomainMemory)] {
        try memoryVariant.map { text in
            let (name, value) = try CommandLineArguments.named(text, flag: "--memory-variant", form: "NAME=THRESHOLD[/CAPACITY[/KEY]] or NAME=off", reserved: Self.methodNames)
            return (name, try RAdaOptions.domainMemory(String(value), flag: "--memory-variant \(name)"))
        }
    }

    /// `--variant NAME=OPTIONS`: OPTIONS parsed as RAda options over the engine's defaults.
    func variants() throws -> [(name: String, options: RAdaOptions)] {
        try RAdaOptions.variants(variant, reserved: Self.methodNames)
    }

    static let methodNames = ["zero-shot", "rada", "tda", "dota", "rada+dota", "oracle"]

    /// `--dota-variant NAME=KEY:VALUE,...` over DOTA's defaults.
    func dotaVariants(_ texts: [String], flag: String) throws -> [(String, DOTAHyperparameters)] {
        try parsedVariants(texts, flag: flag, fusion: false).map { ($0.name, $0.dota) }
    }

    /// `--fusion-variant NAME=KEY:VALUE,...`: DOTA's keys plus `centred` and `gate` (the fusion's own).
    func fusionVariants() throws -> [(name: String, dota: DOTAHyperparameters, centred: Bool, gated: Bool)] {
        try parsedVariants(fusionVariant, flag: "--fusion-variant", fusion: true)
    }

    func parsedVariants(_ texts: [String], flag: String, fusion: Bool) throws -> [(name: String, dota: DOTAHyperparameters, centred: Bool, gated: Bool)] {
        try texts.map { text in
            let (name, settings) = try CommandLineArguments.named(text, flag: flag, form: "NAME=KEY:VALUE,...", reserved: Self.methodNames)
            var hyperparameters = DOTAHyperparameters()
            var (centred, gated) = (false, false)
            for pair in settings.split(separator: ",") {
                let parts = pair.split(separator: ":")
                guard parts.count == 2, let value = Double(parts[1]) else { throw ValidationError("\(flag) \(name): '\(pair)' is not KEY:NUMBER") }
                switch parts[0] {
                case "rho": hyperparameters.rho = value
                case "eta": hyperparameters.eta = value
                case "variance": hyperparameters.initialVariance = value
                case "shrinkage": hyperparameters.shrinkage = value
                case "forgetting": hyperparameters.forgetting = value
                case "gated": hyperparameters.forgettingPerEvidence = value != 0
                case "shift": hyperparameters.shiftReset = value
                case "fast": hyperparameters.shiftFastWindow = value
                case "slow": hyperparameters.shiftSlowWindow = value
                case "labels": hyperparameters.fusedLabels = value != 0
                case "confident": hyperparameters.confidentEntropy = value
                case "prior": hyperparameters.priorBalance = value != 0
                case "priorwindow": hyperparameters.priorWindow = value
                case "coverage": hyperparameters.coveragePower = value
                case "centred" where fusion: centred = value != 0
                case "gate" where fusion: gated = value != 0
                default:
                    throw ValidationError("\(flag) \(name): unknown key \(parts[0]) (rho, eta, variance, shrinkage, forgetting, gated, shift, fast, slow, labels, confident, prior, priorwindow, coverage\(fusion ? ", centred, gate" : ""))")
                }
            }
            do { try hyperparameters.validate() } catch { throw ValidationError("\(flag) \(name): \(error)") }
            return (name, hyperparameters, centred, gated)
        }
    }

    var methodList: [String] { methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func run() throws {
        let precision = try modelOptions.precisionChoice().precision
        let encoder = try modelOptions.loadEncoder(precision: precision)
        let source = try BenchSource(dataset: dataset, split: split)
        let streamProtocol = StreamProtocol(rawValue: self.streamProtocol)!
        let plan: StreamPlan
        switch source {
        case .fashionMNIST(let set):
            let chosen = try corruptions.map { try $0.split(separator: ",").map { try Corruption(name: String($0)) } } ?? Corruption.allCases
            plan = try StreamPlan.corrupted(streamProtocol, labels: set.labels, classes: set.classNames.count,
                                            corruptions: chosen, severity: severity, limit: limit,
                                            roundImages: StreamPlan.RoundImages(rawValue: roundImages)!, seed: seed)
        case .folders(let domains):
            plan = try StreamPlan.folders(streamProtocol, names: domains.names, labels: domains.folders.map(\.labels),
                                          classes: domains.classNames.count, limit: limit, seed: seed)
        }
        let classNames = source.classNames
        let classes = try ClassSet.templated(labels: classNames, templates: template.isEmpty ? encoder.defaultTemplates : template)
        let text = try encoder.classEmbeddings(classes)
        let s = encoder.logitScale

        var methodObjects: [any TTAMethod] = []
        let hyperparameters = try rada.hyperparameters()
        func radaState(_ settings: RAdaHyperparameters? = nil) throws -> StreamState {
            try StreamState(labels: classNames, textEmbeddings: text, logitScale: s, heads: rada.heads,
                            hyperparameters: settings ?? hyperparameters, seed: rada.maskSeed)
        }
        /// rada with the command's options, its adjustment added to DOTA's.
        func fused(_ dota: DOTAHyperparameters, name: String?) throws -> FusedMethod {
            FusedMethod(RAdaMethod(state: try radaState()), try DOTAMethod(textEmbeddings: text, logitScale: s, hyperparameters: dota),
                        textEmbeddings: text, logitScale: s, name: name)
        }
        for name in methodList {
            switch name {
            case "zero-shot": methodObjects.append(ZeroShotMethod(textEmbeddings: text, logitScale: s))
            case "tda": methodObjects.append(try TDAMethod(textEmbeddings: text, logitScale: s))
            case "dota": methodObjects.append(try DOTAMethod(textEmbeddings: text, logitScale: s))
            case "rada+dota":
                methodObjects.append(try fused(DOTAHyperparameters(), name: nil))
            case "rada", "oracle":
                methodObjects.append(RAdaMethod(state: try radaState(), oracle: name == "oracle"))
            default: break
            }
        }
        for (name, options) in try variants() {
            let state = try StreamState(labels: classNames, textEmbeddings: text, logitScale: s, heads: options.heads,
                                        hyperparameters: try options.hyperparameters(), seed: options.maskSeed)
            methodObjects.append(RAdaMethod(state: state, name: name))
        }

        for (name, settings) in try memoryVariants() {
            var withMemory = hyperparameters
            withMemory.domainMemory = settings
            methodObjects.append(RAdaMethod(state: try radaState(withMemory), name: name))
        }
        for (name, hyperparameters) in try dotaVariants(dotaVariant, flag: "--dota-variant") {
            methodObjects.append(try DOTAMethod(textEmbeddings: text, logitScale: s, hyperparameters: hyperparameters, name: name))
        }
        for (name, dota, centred, gated) in try fusionVariants() {
            // Bit for bit FusedMethod(rada, dota) without `centred`, `gate` and `labels`.
            methodObjects.append(RAdaDOTAFusion(rada: RAdaMethod(state: try radaState()),
                                                dota: try DOTAMethod(textEmbeddings: text, logitScale: s, hyperparameters: dota),
                                                centred: centred, gated: gated, name: name))
        }
        var runner = BenchmarkRunner(plan: plan, batchSize: batchSize, methods: methodObjects)
        runner.showsProgress = !quiet
        let info = RunInfo(command: CommandLine.arguments.joined(separator: " "), gitRevision: gitRevision(),
                           seeds: ["order": seed, "corruption": corruptionSeed, "mask": rada.maskSeed],
                           machine: "\(CPUModel.name); towers in \(precision)")
        var cache = FeatureCache(dimension: encoder.embeddingDimension)
        let labels = source.labels
        let report = try runner.run(labels: labels, info: info) { domain, batch in
            try cache.features(for: domain, batch: batch) { missing in
                let images = try missing.map { item in try source.rgbImage(source: domain.source, item: item, corruptionSeed: corruptionSeed) }
                return encoder.embed(images: images)
            }
        }
        print(report.markdownTable())
        if let out { try report.write(to: URL(fileURLWithPath: out)); print("wrote \(out)/report.json, report.md, report.html, accuracy.svg") }
        if let json { try report.json().write(to: URL(fileURLWithPath: json), options: .atomic) }
        if let plot { try Data(report.svgPlot().utf8).write(to: URL(fileURLWithPath: plot), options: .atomic) }
    }
}

/// The checkout's commit, for the report; "unknown" outside a git checkout.
func gitRevision() -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "rev-parse", "HEAD"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return "unknown" }
    process.waitUntilExit()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    return process.terminationStatus == 0 && !text.isEmpty ? text : "unknown"
}
