import Foundation
import RadaNumerics

/// The JSON header of a stream checkpoint (stored in the safetensors `__metadata__` under
/// `"rada.stream"`); the tensors carry the numbers.
struct StreamCheckpointHeader: Codable, Equatable {
    /// 2 added the replay window (`replayCount`, tensor `stream.replay_features`); version 1
    /// checkpoints still load, with an empty window.
    static let currentVersion = 2
    static let readableVersions = 1...2
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
}

extension StreamState {
    static let formatKey = "format"
    static let formatName = "radaserve.stream"
    static let headerKey = "rada.stream"

    /// The stream as a safetensors file: the six maps under the paper's names
    /// (`mha.q_proj1.weight`, …, `mha.out_proj.bias`), the optimiser moments
    /// (`optim.exp_avg.<name>`, `optim.exp_avg_sq.<name>` or `optim.momentum_buffer.<name>`),
    /// `stream.text_embeddings` (K×D), `stream.running_mean_prediction` (K), the replay window
    /// `stream.replay_features` (n×D, only when n > 0), and a versioned JSON
    /// header with the rest.
    public func checkpointData() throws -> Data {
        var file = SafeTensors()
        let d = dimension
        for map in RAdaMap.allCases {
            let w = RAdaMask<Float>.weightRange(map, dimension: d), b = RAdaMask<Float>.biasRange(map, dimension: d)
            file.add("\(map.tensorPrefix).weight", shape: [d, d], values: Array(mask.values[w]))
            file.add("\(map.tensorPrefix).bias", shape: [d], values: Array(mask.values[b]))
            for (name, moment) in Self.momentNames(hyperparameters.optimizer).enumerated().map({ ($0.element, $0.offset == 0 ? optimizer.firstMoment : optimizer.secondMoment) }) {
                file.add("optim.\(name).\(map.tensorPrefix).weight", shape: [d, d], values: Array(moment[w]))
                file.add("optim.\(name).\(map.tensorPrefix).bias", shape: [d], values: Array(moment[b]))
            }
        }
        file.add("stream.text_embeddings", shape: [classes, d], values: textEmbeddings.storage)
        file.add("stream.running_mean_prediction", shape: [classes], values: running.meanPrediction)
        let replayCount = replay.count / d
        if replayCount > 0 { file.add("stream.replay_features", shape: [replayCount, d], values: replay) }
        let header = StreamCheckpointHeader(
            formatVersion: StreamCheckpointHeader.currentVersion, dimension: d, classes: classes, heads: heads,
            labels: labels, logitScale: logitScale, seed: seed, hyperparameters: hyperparameters, counters: counters,
            optimizerStep: optimizer.step, runningEntropy: running.entropy, replayCount: replayCount)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        file.metadata = [Self.formatKey: Self.formatName, Self.headerKey: String(decoding: try encoder.encode(header), as: UTF8.self)]
        return try file.encoded()
    }

    /// Writes `checkpointData()` atomically (temporary file, fsync, rename, fsync of the directory).
    public func writeCheckpoint(to url: URL) throws {
        try AtomicFile.write(try checkpointData(), to: url)
    }

    /// A stream rebuilt from a checkpoint alone.
    public init(checkpoint data: Data) throws {
        let (file, header) = try Self.parseCheckpoint(data)
        let text: [Float] = try file.values("stream.text_embeddings", shape: [header.classes, header.dimension])
        try self.init(
            labels: header.labels, textEmbeddings: Matrix(rows: header.classes, cols: header.dimension, storage: text),
            logitScale: header.logitScale, heads: header.heads, hyperparameters: header.hyperparameters, seed: header.seed)
        try load(file, header)
    }

    /// Replaces this stream's adaptation state with a checkpoint's. The checkpoint must have the
    /// same D, K, heads and labels; on any error (corrupt, truncated, mismatched) the stream is
    /// left exactly as it was.
    public mutating func restore(from data: Data) throws {
        let (file, header) = try Self.parseCheckpoint(data)
        guard header.dimension == dimension else { throw AdaptationError.checkpointMismatch("checkpoint has D = \(header.dimension), this stream D = \(dimension)") }
        guard header.classes == classes else { throw AdaptationError.checkpointMismatch("checkpoint has K = \(header.classes) classes, this stream \(classes)") }
        guard header.heads == heads else { throw AdaptationError.checkpointMismatch("checkpoint has \(header.heads) heads, this stream \(heads)") }
        guard header.labels == labels else {
            let first = (0..<labels.count).first { header.labels[$0] != labels[$0] } ?? 0
            throw AdaptationError.checkpointMismatch("class labels differ (first at index \(first): \"\(header.labels[first])\" vs \"\(labels[first])\")")
        }
        let text: [Float] = try file.values("stream.text_embeddings", shape: [classes, dimension])
        var copy = try StreamState(
            labels: labels, textEmbeddings: Matrix(rows: classes, cols: dimension, storage: text),
            logitScale: header.logitScale, heads: heads, hyperparameters: header.hyperparameters, seed: header.seed)
        try copy.load(file, header)
        self = copy
    }

    /// Reads a checkpoint file from disk into this stream (see `restore(from:)`).
    public mutating func restore(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw AdaptationError.io("cannot read checkpoint \(url.path): \(error.localizedDescription)") }
        try restore(from: data)
    }

    private static func momentNames(_ settings: OptimizerSettings) -> [String] {
        switch settings.kind {
        case .adam, .adamW: ["exp_avg", "exp_avg_sq"]
        case .sgd: settings.momentCount == 1 ? ["momentum_buffer"] : []
        }
    }

    private static func parseCheckpoint(_ data: Data) throws -> (SafeTensors, StreamCheckpointHeader) {
        let file = try SafeTensors(parsing: data)
        guard file.metadata[formatKey] == formatName, let json = file.metadata[headerKey] else {
            throw AdaptationError.invalidCheckpoint("not a RAdaServe stream checkpoint (metadata \"\(formatKey)\" is not \"\(formatName)\")")
        }
        let header: StreamCheckpointHeader
        do { header = try JSONDecoder().decode(StreamCheckpointHeader.self, from: Data(json.utf8)) } catch {
            throw AdaptationError.invalidCheckpoint("stream header is not valid: \(error)")
        }
        guard StreamCheckpointHeader.readableVersions.contains(header.formatVersion) else {
            let versions = StreamCheckpointHeader.readableVersions
            throw AdaptationError.invalidCheckpoint("format version \(header.formatVersion); this build reads versions \(versions.lowerBound)–\(versions.upperBound)")
        }
        guard header.labels.count == header.classes, header.classes >= 1, header.dimension >= 1 else {
            throw AdaptationError.invalidCheckpoint("header lists \(header.labels.count) labels for K = \(header.classes), D = \(header.dimension)")
        }
        guard header.optimizerStep >= 0 else { throw AdaptationError.invalidCheckpoint("negative optimiser step count") }
        let replayCount = header.replayCount ?? 0
        guard replayCount >= 0, replayCount <= header.hyperparameters.replayImages else {
            throw AdaptationError.invalidCheckpoint("replay window holds \(replayCount) images, the hyper-parameters allow \(header.hyperparameters.replayImages)")
        }
        return (file, header)
    }

    /// Fills mask, optimiser, counters and statistics from a parsed checkpoint (all read first).
    private mutating func load(_ file: SafeTensors, _ header: StreamCheckpointHeader) throws {
        let d = dimension
        var values = [Float](repeating: 0, count: RAdaMask<Float>.parameterCount(dimension: d))
        let names = Self.momentNames(header.hyperparameters.optimizer)
        var moments = names.map { _ in [Float](repeating: 0, count: values.count) }
        for map in RAdaMap.allCases {
            let w = RAdaMask<Float>.weightRange(map, dimension: d), b = RAdaMask<Float>.biasRange(map, dimension: d)
            values.replaceSubrange(w, with: try file.values("\(map.tensorPrefix).weight", shape: [d, d]) as [Float])
            values.replaceSubrange(b, with: try file.values("\(map.tensorPrefix).bias", shape: [d]) as [Float])
            for (i, name) in names.enumerated() {
                moments[i].replaceSubrange(w, with: try file.values("optim.\(name).\(map.tensorPrefix).weight", shape: [d, d]) as [Float])
                moments[i].replaceSubrange(b, with: try file.values("optim.\(name).\(map.tensorPrefix).bias", shape: [d]) as [Float])
            }
        }
        let meanPrediction: [Float] = try file.values("stream.running_mean_prediction", shape: [classes])
        let replayCount = header.replayCount ?? 0
        let replayed: [Float] = replayCount > 0 ? try file.values("stream.replay_features", shape: [replayCount, d]) : []
        guard values.allSatisfy(\.isFinite), moments.allSatisfy({ $0.allSatisfy(\.isFinite) }), meanPrediction.allSatisfy(\.isFinite),
              replayed.allSatisfy(\.isFinite) else {
            throw AdaptationError.invalidCheckpoint("parameters or optimiser state contain NaN or infinity")
        }
        var optimizerState = OptimizerState<Float>(parameterCount: values.count, settings: header.hyperparameters.optimizer)
        optimizerState.step = header.optimizerStep
        if names.count >= 1 { optimizerState.firstMoment = moments[0] }
        if names.count >= 2 { optimizerState.secondMoment = moments[1] }
        mask = RAdaMask(dimension: d, values: values)
        optimizer = optimizerState
        counters = header.counters
        running.entropy = header.runningEntropy
        running.meanPrediction = meanPrediction
        replay = replayed
    }
}
