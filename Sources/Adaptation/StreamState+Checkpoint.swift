import Foundation
import RadaNumerics
import SafeTensors

/// The JSON header of a stream checkpoint (stored in the safetensors `__metadata__` under
/// `"rada.stream"`); the tensors carry the numbers.
struct StreamCheckpointHeader: Codable, Equatable {
    /// 2 added the replay window (`replayCount`, tensor `stream.replay_features`), 3 the running
    /// embedding mean of centring (`embeddingMeanWeight`, `embeddingMeanEntropy`, tensor
    /// `stream.embedding_mean`), 4 the whitening's running moments (`whiteningImagesSince`,
    /// `whiteningWeight`, tensors `stream.embedding_second_moment` and `stream.whitener`), 5 the
    /// class Gaussians (`gaussianImages`, tensors `stream.gaussian_evidence`,
    /// `stream.gaussian_sums`, `stream.gaussian_scatter` and `stream.gaussian_prior`), 6 the
    /// memory of domains (`domainBank`, tensors `domains.*`).
    /// Older checkpoints still load, with an empty window, mean, whitening, Gaussians and memory.
    static let currentVersion = 6
    static let readableVersions = 1...6
    var formatVersion: Int
    var dimension: Int
    var classes: Int
    var heads: Int
    var labels: [String]
    var logitScale: Float
    var seed: UInt64
    var hyperparameters: RAdaHyperparameters
    var counters: StreamCounters
    /// The optimiser's step count since the last reset (Adam's bias correction).
    var optimizerStep: Int
    var runningEntropy: Float?
    /// Image embeddings in the replay window (rows of `stream.replay_features`); nil in version 1.
    var replayCount: Int?
    /// The running embedding mean's total image weight (0: empty, no `stream.embedding_mean`)
    /// and its zero-shot entropy ū (a fraction of log K); nil before version 3.
    var embeddingMeanWeight: Double?
    var embeddingMeanEntropy: Double?
    /// With the whitening's moments stored (both tensors present): images added since W was
    /// computed, and the running means' weight when it was; nil otherwise and before version 4.
    var whiteningImagesSince: Double?
    var whiteningWeight: Double?
    /// Images the class Gaussians have learnt, when their statistics are stored (the four
    /// `stream.gaussian_*` tensors); nil when they are empty and before version 5.
    var gaussianImages: Double?
    /// The memory of domains, once it has seen a batch; nil while empty and before version 6.
    var domainBank: DomainBankHeader?
}

/// The memory of domains in a checkpoint, written once it has seen a batch (it then has a key).
/// Its keys are tensors `domains.key` (the current key)
/// and `domains.<i>.key`, each G×D with G the key's groups, beside `domains.key_present` and
/// `domains.<i>.key_present` (G values, 1 where the group has a mean, 0 where not; absent rows
/// are 0); stored state i is tensor `domains.<i>.state`, U8: a stream checkpoint of this stream
/// with that state and without a memory of its own.
struct DomainBankHeader: Codable, Equatable {
    var batches: Int
    var shifts: Int
    var restores: Int
    /// Per stored state, the bank's batch count when it was last stored or restored.
    var lastUsed: [Int]
}

/// The documented bounds every checkpoint (upload, restore, snapshot) is checked against before
/// anything of it is used. A stream that stays inside them can never overflow an integer or turn
/// its arithmetic into NaN; values a real stream could reach are far inside them.
public enum CheckpointBounds {
    /// Counters and the optimiser step: integers a Double represents exactly, far from Int.max.
    public static let counterLimit = 1 << 53

    /// `counter + n`, held at `counterLimit − 1`: a stream (say, one restored from a checkpoint
    /// whose counters sit just below the limit) never counts past what its own checkpoints may
    /// hold. A real stream takes 2^53 images to get there.
    public static func advanced(_ counter: Int, by n: Int = 1) -> Int {
        let (sum, overflow) = counter.addingReportingOverflow(n)
        return overflow || sum >= counterLimit ? counterLimit - 1 : sum
    }
    /// Embedding dimension and class count a checkpoint may declare (checked before allocating).
    public static let maxDimension = 8192
    public static let maxClasses = 100_000
    /// CLIP clamps its learnt logit scale at 100; anything above this is not a CLIP stream.
    public static let maxLogitScale: Float = 1000
    /// Mask parameters and Adam's first moment (trained masks stay within a few units).
    public static let maxParameterMagnitude: Float = 1e6
    /// Adam's second moment (a running mean of squared gradients).
    public static let maxSecondMoment: Float = 1e12
    /// Image and class embeddings are unit vectors; this bounds each element generously.
    public static let maxEmbeddingMagnitude: Float = 1e3
    /// The running embedding mean's total weight. A batch of B images sets it to w·exp(−B/M) + B,
    /// which never exceeds M + B (M ≤ 1e7 images of memory); 1e8 leaves room for any batch a
    /// stream is sent, and keeps the weight's arithmetic far from overflow.
    public static let maxEmbeddingMeanWeight: Double = 1e8
    /// The whitening's running mean of f·fᵀ: products of two embedding elements.
    public static let maxSecondMoment64: Double = 1e6
    /// W = ((1 − ρ)·I + ρ·D·Σ/tr Σ)^(−1/2) has eigenvalues at most (1 − ρ)^(−1/2) ≤ 10 (ρ ≤ 0.99);
    /// this bounds each element generously.
    public static let maxWhitenerMagnitude: Float = 1e3
    /// A class's Gaussian evidence: each image adds at most 1 and γ ≤ 0.999999 forgets it, so a
    /// real stream stays below 1/(1 − γ) ≤ 10⁶.
    public static let maxGaussianEvidence: Double = 1e7
    /// The Gaussians' sums Σ y·x (evidence × embedding element) and scatter Σ y·x·xᵀ.
    public static let maxGaussianSum: Double = 1e10
    public static let maxGaussianScatter: Double = 1e13
    /// A domain key's values (unit directions; this bounds each element generously).
    public static let maxDomainKeyMagnitude: Float = 2
    /// Largest JSON header of a stream checkpoint (labels and hyper-parameters are a few kB).
    public static let maxHeaderBytes = 4 << 20
    /// Per-row cosine a restored checkpoint's class embeddings must have with the stream's own
    /// (the same classes embedded in fp32 and bf16 agree to 0.9999), and the relative logit-scale
    /// tolerance.
    public static let minClassCosine: Float = 0.999
    public static let logitScaleTolerance: Float = 1e-3
}

extension StreamState {
    static let formatKey = "format"
    static let formatName = "radaserve.stream"
    static let headerKey = "rada.stream"
    /// The name checkpoint bytes go by in error messages (they are often not a file).
    static let checkpointSource = "checkpoint"

    /// The stream as a safetensors file: the six maps under the paper's names
    /// (`mha.q_proj1.weight`, …, `mha.out_proj.bias`), the optimiser moments
    /// (`optim.exp_avg.<name>`, `optim.exp_avg_sq.<name>` or `optim.momentum_buffer.<name>`),
    /// `stream.text_embeddings` (K×D), `stream.running_mean_prediction` (K), the replay window
    /// `stream.replay_features` (n×D, only when n > 0), the running embedding mean
    /// `stream.embedding_mean` (D, only when its weight is > 0), and a versioned JSON
    /// header with the rest. `extraMetadata` adds entries of the caller's own (a server's
    /// snapshot carries the stream's history there); loading ignores them.
    public func checkpointData(extraMetadata: [String: String] = [:]) throws -> Data {
        var file = SafeTensorsWriter()
        let d = dimension
        let names = Self.momentNames(hyperparameters.optimizer)
        let moments = [optimizer.firstMoment, optimizer.secondMoment]
        for map in RAdaMap.allCases {
            let w = RAdaMask<Float>.weightRange(map, dimension: d), b = RAdaMask<Float>.biasRange(map, dimension: d)
            file.add("\(map.tensorPrefix).weight", shape: [d, d], values: Array(mask.values[w]))
            file.add("\(map.tensorPrefix).bias", shape: [d], values: Array(mask.values[b]))
            for (i, name) in names.enumerated() {
                file.add("optim.\(name).\(map.tensorPrefix).weight", shape: [d, d], values: Array(moments[i][w]))
                file.add("optim.\(name).\(map.tensorPrefix).bias", shape: [d], values: Array(moments[i][b]))
            }
        }
        file.add("stream.text_embeddings", shape: [classes, d], values: textEmbeddings.storage)
        file.add("stream.running_mean_prediction", shape: [classes], values: running.meanPrediction)
        let replayCount = replay.count / d
        if replayCount > 0 { file.add("stream.replay_features", shape: [replayCount, d], values: replay) }
        if !embeddingMean.isEmpty { file.add("stream.embedding_mean", shape: [d], values: embeddingMean.mean) }
        let whitening = embeddingMean.hasWhitening
        if whitening {
            file.add("stream.embedding_second_moment", shape: [d, d], values: embeddingMean.secondMoment)
            file.add("stream.whitener", shape: [d, d], values: embeddingMean.whitener)
        }
        let storesGaussians = !gaussians.isEmpty
        if storesGaussians {
            file.add("stream.gaussian_evidence", shape: [classes], values: gaussians.evidence)
            file.add("stream.gaussian_sums", shape: [classes, d], values: gaussians.sums)
            file.add("stream.gaussian_scatter", shape: [d, d], values: gaussians.scatter)
            file.add("stream.gaussian_prior", shape: [classes], values: gaussians.classPrior)
        }
        let bank = try addDomainBank(to: &file)
        let header = StreamCheckpointHeader(
            formatVersion: StreamCheckpointHeader.currentVersion, dimension: d, classes: classes, heads: heads,
            labels: labels, logitScale: logitScale, seed: seed, hyperparameters: hyperparameters, counters: counters,
            optimizerStep: optimizer.step, runningEntropy: running.entropy, replayCount: replayCount,
            embeddingMeanWeight: embeddingMean.weight, embeddingMeanEntropy: embeddingMean.entropy,
            whiteningImagesSince: whitening ? embeddingMean.imagesSinceWhitener : nil,
            whiteningWeight: whitening ? embeddingMean.weightAtWhitener : nil,
            gaussianImages: storesGaussians ? gaussians.images : nil, domainBank: bank)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        file.metadata = extraMetadata.merging([Self.formatKey: Self.formatName, Self.headerKey: String(decoding: try encoder.encode(header), as: UTF8.self)]) { _, own in own }
        return file.encoded()
    }

    /// The memory of domains' tensors (see `DomainBankHeader`), and its header; nil while it has
    /// seen nothing.
    private func addDomainBank(to file: inout SafeTensorsWriter) throws -> DomainBankHeader? {
        guard domains.batches > 0 else { return nil }
        let groups = appliedDomainMemory.groups(classes: classes), d = dimension
        func add(_ key: DomainKey, _ prefix: String) {
            var values = [Float](repeating: 0, count: groups * d), present = [Float](repeating: 0, count: groups)
            for (g, row) in key.enumerated() where g < groups {
                guard let row else { continue }
                values.replaceSubrange((g * d)..<((g + 1) * d), with: row)
                present[g] = 1
            }
            file.add("\(prefix).key", shape: [groups, d], values: values)
            file.add("\(prefix).key_present", shape: [groups], values: present)
        }
        add(domains.key ?? [], "domains")
        for (i, entry) in domains.entries.enumerated() {
            add(entry.key, "domains.\(i)")
            var stored = self
            stored.domains = DomainBank()
            stored.adaptedParts = entry.parts
            file.add("domains.\(i).state", bytes: try stored.checkpointData())
        }
        return DomainBankHeader(batches: domains.batches, shifts: domains.shifts, restores: domains.restores,
                                lastUsed: domains.entries.map(\.lastUsed))
    }

    /// Writes `checkpointData()` atomically (temporary file, fsync, rename, fsync of the directory).
    public func writeCheckpoint(to url: URL) throws {
        do { try DurableFile.replace(url, with: try checkpointData()) } catch let error as DurableFile.Failure {
            throw AdaptationError.io(error.description)
        }
    }

    /// A stream rebuilt from a checkpoint alone (a snapshot of itself): every field is checked
    /// against `CheckpointBounds` first.
    public init(checkpoint data: Data) throws {
        let checkpoint = try ParsedCheckpoint(data)
        let header = checkpoint.header
        let text = try checkpoint.textEmbeddings()
        do {
            try self.init(
                labels: header.labels, textEmbeddings: Matrix(rows: header.classes, cols: header.dimension, storage: text),
                logitScale: header.logitScale, heads: header.heads, hyperparameters: header.hyperparameters, seed: header.seed)
        } catch let error as AdaptationError {
            throw AdaptationError.invalidCheckpoint("\(error)")
        }
        try load(checkpoint)
    }

    /// Brings back a checkpoint's adapted state (mask, optimiser, counters, running statistics,
    /// replay window, running embedding mean) onto this stream's own class set. The stream's
    /// labels, class embeddings, logit scale, policy and seed never change, so `reset()` still
    /// returns to its own zero-shot.
    /// A checkpoint of another shape, class set, class embeddings or policy is a
    /// `checkpointMismatch`; a corrupt or out-of-bounds one an `invalidCheckpoint`. On any error
    /// the stream is left exactly as it was.
    ///
    /// `refusingUnknownFields`: a header field this version does not have, at any depth (the
    /// hyper-parameters' included), is an `invalidCheckpoint` naming it, where otherwise it is read
    /// past without a word. The server asks for this on what clients upload, which would otherwise
    /// restore other settings than it records; its own stored state is read as it was written, so
    /// that a stream stored by an earlier version still loads.
    public mutating func restore(from data: Data, refusingUnknownFields: Bool = false) throws {
        let checkpoint = try ParsedCheckpoint(data, refusingUnknownFields: refusingUnknownFields)
        let header = checkpoint.header
        func mismatch(_ why: String) -> AdaptationError { .checkpointMismatch(why) }
        guard header.dimension == dimension else { throw mismatch("checkpoint has D = \(header.dimension), this stream D = \(dimension)") }
        guard header.classes == classes else { throw mismatch("checkpoint has K = \(header.classes) classes, this stream \(classes)") }
        guard header.heads == heads else { throw mismatch("checkpoint has \(header.heads) heads, this stream \(heads)") }
        guard header.labels == labels else {
            let first = (0..<labels.count).first { header.labels[$0] != labels[$0] } ?? 0
            throw mismatch("class labels differ (first at index \(first): \"\(header.labels[first].prefix(80))\" vs \"\(labels[first].prefix(80))\")")
        }
        guard header.hyperparameters == hyperparameters else {
            throw mismatch("the checkpoint was taken under another adaptation policy; a restore never changes the stream's policy")
        }
        guard abs(header.logitScale - logitScale) <= CheckpointBounds.logitScaleTolerance * logitScale else {
            throw mismatch("checkpoint logit scale \(header.logitScale) differs from this stream's \(logitScale)")
        }
        let text = try checkpoint.textEmbeddings()
        if let row = Self.firstDifferentRow(text, textEmbeddings.storage, dimension: dimension) {
            throw mismatch("class embedding of \"\(labels[row].prefix(80))\" differs from this stream's (another model, prompts or templates)")
        }
        var copy = self
        try copy.load(checkpoint)
        self = copy
    }

    /// Reads a checkpoint file from disk into this stream (see `restore(from:)`).
    public mutating func restore(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw AdaptationError.io("cannot read checkpoint \(url.lastPathComponent): \(error.localizedDescription)") }
        try restore(from: data)
    }

    /// The largest checkpoint this stream can produce or accept (header limit plus its tensors at
    /// their largest): an upload above it cannot be one of its checkpoints.
    public var maximumCheckpointBytes: Int {
        let d = dimension
        let maskFloats = RAdaMask<Float>.parameterCount(dimension: d) * (1 + 2)
        let floats = maskFloats + classes * d + classes + hyperparameters.replayImages * d
            + (hyperparameters.centring.isOn ? d : 0)
        // The whitening's second moment is stored in Float64, W in Float32; the Gaussians in Float64.
        let whitening = hyperparameters.centring.whitens ? d * d * (MemoryLayout<Double>.size + MemoryLayout<Float>.size) : 0
        let gaussians = hyperparameters.gaussians.isOn ? (2 * classes + classes * d + d * d) * MemoryLayout<Double>.size : 0
        let tensors = floats * MemoryLayout<Float>.size + whitening + gaussians
        // The memory of domains: a whole checkpoint per stored state, and each key with its flags.
        // A stored state's header holds this stream's labels and settings and no memory of its
        // own: at most the labels JSON-escaped twice (the header is a string in the file's
        // metadata) and 64 KiB, so the bound stays near the stream's real size.
        let memory = appliedDomainMemory
        let storedHeader = min(CheckpointBounds.maxHeaderBytes, (64 << 10) + labels.reduce(0) { $0 + 12 * $1.utf8.count + 8 })
        let keys = memory.isOn ? (memory.capacity + 1) * memory.groups(classes: classes) * (d + 1) * MemoryLayout<Float>.size : 0
        return 8 + CheckpointBounds.maxHeaderBytes + tensors + memory.capacity * (8 + storedHeader + tensors) + keys
    }

    static func momentNames(_ settings: OptimizerSettings) -> [String] {
        switch settings.kind {
        case .adam, .adamW: ["exp_avg", "exp_avg_sq"]
        case .sgd: settings.momentCount == 1 ? ["momentum_buffer"] : []
        }
    }

    /// The first class whose embedding's cosine with the stream's is below the bound, if any.
    private static func firstDifferentRow(_ a: [Float], _ b: [Float], dimension d: Int) -> Int? {
        for row in 0..<(a.count / d) {
            var dot: Float = 0, na: Float = 0, nb: Float = 0
            for i in (row * d)..<((row + 1) * d) {
                dot += a[i] * b[i]
                na += a[i] * a[i]
                nb += b[i] * b[i]
            }
            let cosine = (na > 0 && nb > 0) ? dot / (na.squareRoot() * nb.squareRoot()) : (na == nb ? 1 : 0)
            if !(cosine >= CheckpointBounds.minClassCosine) { return row }
        }
        return nil
    }

    /// Fills mask, optimiser, counters, statistics, running means and the memory of domains from a
    /// validated checkpoint.
    private mutating func load(_ checkpoint: ParsedCheckpoint) throws {
        let parts = try adaptedParts(checkpoint)
        let bank = try domainBank(checkpoint)
        adaptedParts = parts
        counters = checkpoint.header.counters
        domains = bank
    }

    /// The adapted state a validated checkpoint holds.
    private func adaptedParts(_ checkpoint: ParsedCheckpoint) throws -> AdaptedParts {
        let state = try checkpoint.adaptedState()
        var optimizerState = OptimizerState<Float>(parameterCount: state.mask.count, settings: hyperparameters.optimizer)
        optimizerState.step = checkpoint.header.optimizerStep
        if state.moments.count >= 1 { optimizerState.firstMoment = state.moments[0] }
        if state.moments.count >= 2 { optimizerState.secondMoment = state.moments[1] }
        var statistics = RunningStatistics(classes: classes)
        statistics.entropy = checkpoint.header.runningEntropy
        statistics.meanPrediction = state.meanPrediction
        let header = checkpoint.header
        let mean = state.embeddingMean.map {
            RunningEmbeddingMean(
                mean: $0, entropy: header.embeddingMeanEntropy ?? 0, weight: header.embeddingMeanWeight ?? 0,
                secondMoment: state.secondMoment, whitener: state.whitener,
                imagesSinceWhitener: header.whiteningImagesSince ?? 0, weightAtWhitener: header.whiteningWeight ?? 0)
        } ?? RunningEmbeddingMean(dimension: dimension)
        return AdaptedParts(mask: RAdaMask(dimension: dimension, values: state.mask), optimizer: optimizerState, running: statistics,
                            replay: state.replay, embeddingMean: mean, gaussians: state.gaussians ?? ClassGaussians())
    }

    /// The memory of domains a validated checkpoint holds: its keys, and each stored state, a
    /// checkpoint of its own that must be of this very stream (shape, classes, class embeddings,
    /// settings) and hold no memory itself.
    private func domainBank(_ checkpoint: ParsedCheckpoint) throws -> DomainBank<AdaptedParts> {
        guard let header = checkpoint.header.domainBank else { return DomainBank() }
        var bank = DomainBank<AdaptedParts>()
        bank.batches = header.batches
        bank.shifts = header.shifts
        bank.restores = header.restores
        bank.key = try checkpoint.domainKey("domains")
        let text = header.lastUsed.isEmpty ? [] : try checkpoint.textEmbeddings()
        for (i, lastUsed) in header.lastUsed.enumerated() {
            let stored = try ParsedCheckpoint(try checkpoint.nestedState("domains.\(i).state"))
            let h = stored.header, outer = checkpoint.header
            guard h.domainBank == nil, h.dimension == outer.dimension, h.classes == outer.classes, h.heads == outer.heads,
                  h.labels == outer.labels, h.hyperparameters == outer.hyperparameters, h.logitScale == outer.logitScale,
                  h.seed == outer.seed, try stored.textEmbeddings() == text
            else {
                throw AdaptationError.invalidCheckpoint("stored domain state \(i) is not a state of this stream without a memory of its own")
            }
            bank.entries.append(.init(key: try checkpoint.domainKey("domains.\(i)"), parts: try adaptedParts(stored), lastUsed: lastUsed))
        }
        return bank
    }
}

/// A checkpoint whose file structure, header and tensor shapes have been checked, so that every
/// later allocation is bounded by what the bytes actually hold.
struct ParsedCheckpoint {
    let file: SafeTensorsFile
    let header: StreamCheckpointHeader

    init(_ data: Data, refusingUnknownFields: Bool = false) throws {
        func invalid(_ why: String) -> AdaptationError { .invalidCheckpoint(why) }
        do {
            file = try SafeTensorsFile(data: data, source: StreamState.checkpointSource, maxHeaderBytes: CheckpointBounds.maxHeaderBytes)
        } catch let error as SafeTensorsError {
            throw invalid("\(error)")
        }
        guard file.metadata[StreamState.formatKey] == StreamState.formatName, let json = file.metadata[StreamState.headerKey] else {
            throw invalid("not a RAdaServe stream checkpoint (metadata \"\(StreamState.formatKey)\" is not \"\(StreamState.formatName)\")")
        }
        do { header = try JSONDecoder().decode(StreamCheckpointHeader.self, from: Data(json.utf8)) } catch let error as DecodingError {
            throw invalid("stream header is not valid: \(Self.summary(error))")
        }
        if refusingUnknownFields, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
           let path = FieldTree(reflecting: header).unknownPath(in: object) {
            throw invalid("the stream header names a field this server does not have: \"\(path.joined(separator: "."))\"")
        }
        try checkHeader()
        try checkShapes()
    }

    private static func summary(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing field \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        @unknown default: "\(error)"
        }
    }

    /// Throws `invalidCheckpoint(why)` unless `ok`.
    private func check(_ ok: Bool, _ why: @autoclosure () -> String) throws {
        if !ok { throw AdaptationError.invalidCheckpoint(why()) }
    }

    private func checkHeader() throws {
        let h = header
        let versions = StreamCheckpointHeader.readableVersions
        try check(versions.contains(h.formatVersion), "format version \(h.formatVersion); this build reads versions \(versions.lowerBound)–\(versions.upperBound)")
        try check((1...CheckpointBounds.maxDimension).contains(h.dimension), "D = \(h.dimension) is outside 1...\(CheckpointBounds.maxDimension)")
        try check((1...CheckpointBounds.maxClasses).contains(h.classes), "K = \(h.classes) is outside 1...\(CheckpointBounds.maxClasses)")
        try check(h.labels.count == h.classes, "header lists \(h.labels.count) labels for K = \(h.classes)")
        try check(h.heads >= 1 && h.heads <= h.dimension && h.dimension % h.heads == 0, "\(h.heads) heads do not divide D = \(h.dimension)")
        try check(h.logitScale.isFinite && h.logitScale > 0 && h.logitScale <= CheckpointBounds.maxLogitScale,
                  "logit scale \(h.logitScale) is outside (0, \(CheckpointBounds.maxLogitScale)]")
        let limit = CheckpointBounds.counterLimit
        let c = h.counters
        for (name, value) in [("samplesSeen", c.samplesSeen), ("batchesSeen", c.batchesSeen), ("optimizerSteps", c.optimizerSteps),
                              ("skippedSteps", c.skippedSteps), ("automaticResets", c.automaticResets), ("optimizerStep", h.optimizerStep)] {
            try check(value >= 0 && value < limit, "counter \(name) = \(value) is outside 0..<2^53")
        }
        if let entropy = h.runningEntropy {
            let maximum = Float(Foundation.log(Double(h.classes))) + 1e-3
            try check(entropy.isFinite && entropy >= 0 && entropy <= maximum, "running entropy \(entropy) is outside [0, log K]")
        }
        do { try h.hyperparameters.validate() } catch let error as AdaptationError {
            throw AdaptationError.invalidCheckpoint("\(error)")
        }
        let replayCount = h.replayCount ?? 0
        try check(replayCount >= 0 && replayCount <= h.hyperparameters.replayImages,
                  "replay window holds \(replayCount) images, the hyper-parameters allow \(h.hyperparameters.replayImages)")
        try checkEmbeddingMean()
        try checkGaussians()
        try checkDomainBank()
    }

    /// The memory of domains' header: only from version 6, only while it is on, no more stored
    /// states than its capacity, counts that could have happened (restores ≤ shifts ≤ batches,
    /// each state last used at or before the last batch).
    private func checkDomainBank() throws {
        guard let bank = header.domainBank else { return }
        let memory = header.hyperparameters.appliedDomainMemory(classes: header.classes, dimension: header.dimension)
        try check(header.formatVersion >= 6, "a version-\(header.formatVersion) header has no memory of domains")
        try check(memory.isOn, "a memory of domains while domainMemory holds no state for this stream (off, episodic, or maxBytes below one state)")
        try check(bank.batches >= 1 && bank.batches < CheckpointBounds.counterLimit, "domainBank batches \(bank.batches) is outside 1..<2^53")
        try check(bank.shifts >= 0 && bank.shifts <= bank.batches && bank.restores >= 0 && bank.restores <= bank.shifts,
                  "domainBank needs 0 ≤ restores ≤ shifts ≤ batches, got \(bank.restores), \(bank.shifts), \(bank.batches)")
        try check(bank.lastUsed.count <= memory.capacity, "domainBank stores \(bank.lastUsed.count) states, the capacity is \(memory.capacity)")
        try check(bank.lastUsed.allSatisfy { (0...bank.batches).contains($0) }, "domainBank lastUsed must lie in 0...batches")
    }

    /// The class Gaussians' header field: only from version 5, only while the fusion is on, a
    /// whole number of images within the counters' bound.
    private func checkGaussians() throws {
        guard let images = header.gaussianImages else { return }
        try check(header.formatVersion >= 5, "a version-\(header.formatVersion) header has no class Gaussians")
        try check(header.hyperparameters.gaussians.isOn, "class Gaussians while the fusion is off")
        try check(images.isFinite && images >= 1 && images < Double(CheckpointBounds.counterLimit) && images == images.rounded(),
                  "gaussianImages \(images) is not a whole number in [1, 2^53)")
    }

    /// The running embedding mean's header fields: both present from version 3 on, absent before;
    /// a weight of 0 (empty) or at least one image (every batch adds its B ≥ 1 images whole),
    /// an entropy that is a fraction of log K, and nothing at all while centring is off.
    private func checkEmbeddingMean() throws {
        let h = header
        let present = (h.embeddingMeanWeight != nil, h.embeddingMeanEntropy != nil)
        if h.formatVersion >= 3 {
            try check(present == (true, true), "a version-\(h.formatVersion) header needs embeddingMeanWeight and embeddingMeanEntropy")
        } else {
            try check(present == (false, false), "a version-\(h.formatVersion) header has no running embedding mean")
        }
        let weight = h.embeddingMeanWeight ?? 0, entropy = h.embeddingMeanEntropy ?? 0
        let maximum = CheckpointBounds.maxEmbeddingMeanWeight
        try check(weight.isFinite && (weight == 0 || (1...maximum).contains(weight)),
                  "embeddingMeanWeight \(weight) is neither 0 nor in [1, \(maximum)]")
        try check(entropy.isFinite && (0...(1 + 1e-3)).contains(entropy), "embeddingMeanEntropy \(entropy) is outside [0, 1] (a fraction of log K)")
        try check(weight > 0 || entropy == 0, "an empty running embedding mean (weight 0) has entropy 0, not \(entropy)")
        try check(weight == 0 || h.hyperparameters.centring.isOn, "a running embedding mean (weight \(weight)) while centring is off")
        try checkWhitening()
    }

    /// The whitening's header fields: both or neither, only from version 4, only with a
    /// non-empty running mean under settings that whiten; counts of images within the running
    /// means' bound.
    private func checkWhitening() throws {
        let h = header
        switch (h.whiteningImagesSince, h.whiteningWeight) {
        case (nil, nil):
            return
        case (let since?, let weight?):
            try check(h.formatVersion >= 4, "a version-\(h.formatVersion) header has no whitening")
            try check(h.hyperparameters.centring.whitens, "whitening moments while whitening is off")
            try check((h.embeddingMeanWeight ?? 0) > 0, "whitening moments with an empty running embedding mean")
            let maximum = CheckpointBounds.maxEmbeddingMeanWeight
            try check(since.isFinite && (0...maximum).contains(since), "whiteningImagesSince \(since) is outside [0, \(maximum)]")
            try check(weight.isFinite && (0...maximum).contains(weight), "whiteningWeight \(weight) is outside [0, \(maximum)]")
        default:
            try check(false, "whiteningImagesSince and whiteningWeight come together")
        }
    }

    /// Every tensor present with its exact shape, before a single value is read.
    private func checkShapes() throws {
        let d = header.dimension, k = header.classes
        var expected: [(String, [Int])] = [("stream.text_embeddings", [k, d]), ("stream.running_mean_prediction", [k])]
        let replayCount = header.replayCount ?? 0
        if replayCount > 0 { expected.append(("stream.replay_features", [replayCount, d])) }
        if (header.embeddingMeanWeight ?? 0) > 0 {
            expected.append(("stream.embedding_mean", [d]))
        } else if file.info("stream.embedding_mean") != nil {
            throw AdaptationError.invalidCheckpoint("tensor stream.embedding_mean is present but embeddingMeanWeight is 0")
        }
        for name in ["stream.embedding_second_moment", "stream.whitener"] {
            if header.whiteningImagesSince != nil {
                expected.append((name, [d, d]))
            } else if file.info(name) != nil {
                throw AdaptationError.invalidCheckpoint("tensor \(name) is present but the header has no whitening")
            }
        }
        for (name, shape) in [("stream.gaussian_evidence", [k]), ("stream.gaussian_sums", [k, d]), ("stream.gaussian_scatter", [d, d]),
                              ("stream.gaussian_prior", [k])] {
            if header.gaussianImages != nil {
                expected.append((name, shape))
            } else if file.info(name) != nil {
                throw AdaptationError.invalidCheckpoint("tensor \(name) is present but the header has no class Gaussians")
            }
        }
        if let bank = header.domainBank {
            let groups = header.hyperparameters.domainMemory.groups(classes: k)
            for prefix in ["domains"] + bank.lastUsed.indices.map({ "domains.\($0)" }) {
                expected.append(("\(prefix).key", [groups, d]))
                expected.append(("\(prefix).key_present", [groups]))
            }
            for i in bank.lastUsed.indices {
                guard let info = file.info("domains.\(i).state") else { throw AdaptationError.invalidCheckpoint("tensor domains.\(i).state is missing") }
                guard info.dtype == .u8, info.shape.count == 1 else {
                    throw AdaptationError.invalidCheckpoint("tensor domains.\(i).state must be U8 bytes of one dimension")
                }
            }
        } else if file.info("domains.key") != nil {
            throw AdaptationError.invalidCheckpoint("tensor domains.key is present but the header has no memory of domains")
        }
        for map in RAdaMap.allCases {
            expected.append(("\(map.tensorPrefix).weight", [d, d]))
            expected.append(("\(map.tensorPrefix).bias", [d]))
            for name in StreamState.momentNames(header.hyperparameters.optimizer) {
                expected.append(("optim.\(name).\(map.tensorPrefix).weight", [d, d]))
                expected.append(("optim.\(name).\(map.tensorPrefix).bias", [d]))
            }
        }
        for (name, shape) in expected {
            guard let info = file.info(name) else { throw AdaptationError.invalidCheckpoint("tensor \(name) is missing") }
            guard info.shape == shape else {
                throw AdaptationError.checkpointMismatch("tensor \(name) has shape \(info.shape), expected \(shape)")
            }
        }
    }

    private func floats(_ name: String) throws -> [Float] {
        do { return try file.floats(name) } catch let error as SafeTensorsError {
            throw AdaptationError.invalidCheckpoint("\(error)")
        }
    }

    private static func require(_ values: [Float], _ what: String, within bound: Float, nonNegative: Bool = false) throws {
        guard values.allSatisfy({ $0.isFinite && abs($0) <= bound && (!nonNegative || $0 >= 0) }) else {
            throw AdaptationError.invalidCheckpoint("\(what) must be finite\(nonNegative ? ", non-negative" : "") and at most \(bound) in magnitude")
        }
    }

    /// A domain key (`<prefix>.key` and `<prefix>.key_present`): each present row a finite,
    /// bounded direction, each absent row zero, the flags 0 or 1.
    func domainKey(_ prefix: String) throws -> DomainKey {
        let d = header.dimension
        let values = try floats("\(prefix).key"), present = try floats("\(prefix).key_present")
        try Self.require(values, "domain key \(prefix)", within: CheckpointBounds.maxDomainKeyMagnitude)
        try check(present.allSatisfy { $0 == 0 || $0 == 1 }, "domain key flags \(prefix).key_present must be 0 or 1")
        var key: DomainKey = []
        for g in present.indices {
            let row = Array(values[(g * d)..<((g + 1) * d)])
            try check(present[g] == 1 || row.allSatisfy { $0 == 0 }, "domain key \(prefix): a group without a mean has a non-zero row")
            key.append(present[g] == 1 ? row : nil)
        }
        return key
    }

    /// The bytes of a stored state (U8, shape checked).
    func nestedState(_ name: String) throws -> Data {
        do { return try file.rawBytes(name) } catch let error as SafeTensorsError {
            throw AdaptationError.invalidCheckpoint("\(error)")
        }
    }

    /// K×D class embeddings, finite and bounded.
    func textEmbeddings() throws -> [Float] {
        let text = try floats("stream.text_embeddings")
        try Self.require(text, "class embeddings", within: CheckpointBounds.maxEmbeddingMagnitude)
        return text
    }

    struct AdaptedState {
        var mask: [Float]
        var moments: [[Float]]
        var meanPrediction: [Float]
        var replay: [Float]
        /// nil: the checkpoint's running embedding mean is empty.
        var embeddingMean: [Float]?
        /// The whitening's moments (D×D each), empty when the checkpoint has none.
        var secondMoment: [Double] = []
        var whitener: [Float] = []
        /// nil: the checkpoint's class Gaussians are empty.
        var gaussians: ClassGaussians?
    }

    /// Mask, moments, mean prediction, replay window and embedding mean, each checked against
    /// its bounds.
    func adaptedState() throws -> AdaptedState {
        let d = header.dimension
        let count = RAdaMask<Float>.parameterCount(dimension: d)
        let names = StreamState.momentNames(header.hyperparameters.optimizer)
        var state = AdaptedState(
            mask: [Float](repeating: 0, count: count), moments: names.map { _ in [Float](repeating: 0, count: count) },
            meanPrediction: [], replay: [], embeddingMean: nil)
        for map in RAdaMap.allCases {
            let w = RAdaMask<Float>.weightRange(map, dimension: d), b = RAdaMask<Float>.biasRange(map, dimension: d)
            state.mask.replaceSubrange(w, with: try floats("\(map.tensorPrefix).weight"))
            state.mask.replaceSubrange(b, with: try floats("\(map.tensorPrefix).bias"))
            for (i, name) in names.enumerated() {
                state.moments[i].replaceSubrange(w, with: try floats("optim.\(name).\(map.tensorPrefix).weight"))
                state.moments[i].replaceSubrange(b, with: try floats("optim.\(name).\(map.tensorPrefix).bias"))
            }
        }
        try Self.require(state.mask, "mask parameters", within: CheckpointBounds.maxParameterMagnitude)
        for (i, name) in names.enumerated() {
            let second = name == "exp_avg_sq"
            try Self.require(state.moments[i], "optimiser moment \(name)",
                             within: second ? CheckpointBounds.maxSecondMoment : CheckpointBounds.maxParameterMagnitude, nonNegative: second)
        }
        state.meanPrediction = try floats("stream.running_mean_prediction")
        try Self.require(state.meanPrediction, "running mean prediction", within: 1, nonNegative: true)
        let total = state.meanPrediction.reduce(0, +)
        guard abs(total - 1) <= 1e-3 else {
            throw AdaptationError.invalidCheckpoint("running mean prediction sums to \(total), not 1")
        }
        if (header.replayCount ?? 0) > 0 {
            state.replay = try floats("stream.replay_features")
            try Self.require(state.replay, "replay window", within: CheckpointBounds.maxEmbeddingMagnitude)
        }
        if (header.embeddingMeanWeight ?? 0) > 0 {
            let mean = try floats("stream.embedding_mean")
            try Self.require(mean, "running embedding mean", within: CheckpointBounds.maxEmbeddingMagnitude)
            state.embeddingMean = mean
        }
        if header.whiteningImagesSince != nil {
            let d = header.dimension
            let moment = try doubles("stream.embedding_second_moment")
            let bound = CheckpointBounds.maxSecondMoment64
            // A mean of f·fᵀ: finite, bounded, symmetric, with a non-negative diagonal.
            for i in 0..<d {
                for j in 0..<d {
                    let v = moment[i * d + j]
                    guard v.isFinite, abs(v) <= bound, v == moment[j * d + i], i != j || v >= 0 else {
                        throw AdaptationError.invalidCheckpoint(
                            "the whitening's second moment must be finite, symmetric, at most \(bound) in magnitude and non-negative on its diagonal")
                    }
                }
            }
            state.secondMoment = moment
            state.whitener = try floats("stream.whitener")
            try Self.require(state.whitener, "whitening matrix", within: CheckpointBounds.maxWhitenerMagnitude)
        }
        if let images = header.gaussianImages { state.gaussians = try gaussians(images: images) }
        return state
    }

    private func doubles(_ name: String) throws -> [Double] {
        do { return try file.doubles(name) } catch let error as SafeTensorsError {
            throw AdaptationError.invalidCheckpoint("\(error)")
        }
    }

    /// The class Gaussians' statistics, each checked against its bounds: evidence and prior
    /// non-negative, the prior a distribution (or all zero: learnt from labels only), the
    /// scatter symmetric with a non-negative diagonal. Bounded statistics that are no scatter
    /// of real images (not positive definite) load, and then give no scores.
    private func gaussians(images: Double) throws -> ClassGaussians {
        let d = header.dimension
        let evidence = try doubles("stream.gaussian_evidence"), sums = try doubles("stream.gaussian_sums")
        let scatter = try doubles("stream.gaussian_scatter"), prior = try doubles("stream.gaussian_prior")
        func within(_ values: [Double], _ bound: Double, nonNegative: Bool) -> Bool {
            values.allSatisfy { $0.isFinite && abs($0) <= bound && (!nonNegative || $0 >= 0) }
        }
        try check(within(evidence, CheckpointBounds.maxGaussianEvidence, nonNegative: true),
                  "class Gaussian evidence must be finite, non-negative and at most \(CheckpointBounds.maxGaussianEvidence)")
        try check(within(sums, CheckpointBounds.maxGaussianSum, nonNegative: false),
                  "class Gaussian sums must be finite and at most \(CheckpointBounds.maxGaussianSum) in magnitude")
        try check(within(prior, 1, nonNegative: true) && prior.reduce(0, +) <= 1 + 1e-6,
                  "the class Gaussians' prior must be non-negative and sum to at most 1")
        let bound = CheckpointBounds.maxGaussianScatter
        for i in 0..<d {
            for j in 0..<d {
                let v = scatter[i * d + j]
                try check(v.isFinite && abs(v) <= bound && v == scatter[j * d + i] && (i != j || v >= 0),
                          "the class Gaussians' scatter must be finite, symmetric, at most \(bound) in magnitude and non-negative on its diagonal")
            }
        }
        return ClassGaussians(evidence: evidence, sums: sums, scatter: scatter, classPrior: prior, images: images)
    }
}
