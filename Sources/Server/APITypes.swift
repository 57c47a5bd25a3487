import Adaptation
import Foundation

/// `POST /v1/streams` body.
struct CreateStreamRequest: Decodable {
    var id: String?
    var labels: [String]?
    var prompts: [String: [String]]?
    var templates: [String]?
    /// Partial `RAdaHyperparameters`: given fields override the defaults. Read from
    /// `hyperparameters`, or from its deprecated alias `policy` (the name before 0.3.0; both is a 400).
    var hyperparameters: JSONValue?
    var seed: UInt64?

    private enum CodingKeys: String, CodingKey, CaseIterable { case id, labels, prompts, templates, hyperparameters, policy, seed }

    init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownFields(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeUnlessAbsent(String.self, forKey: .id)
        labels = try c.decodeUnlessAbsent([String].self, forKey: .labels)
        prompts = try c.decodeUnlessAbsent([String: [String]].self, forKey: .prompts)
        templates = try c.decodeUnlessAbsent([String].self, forKey: .templates)
        if c.contains(.hyperparameters) && c.contains(.policy) {
            throw DecodingError.dataCorruptedError(
                forKey: .policy, in: c, debugDescription: "give \"hyperparameters\" or its deprecated alias \"policy\", not both")
        }
        hyperparameters = try c.decodeUnlessAbsent(JSONValue.self, forKey: c.contains(.policy) ? .policy : .hyperparameters)
        // 63 bits: every client's integer type (and every OpenAPI tool) holds it.
        if let value = try c.decodeUnlessAbsent(Int64.self, forKey: .seed) {
            guard value >= 0 else { throw DecodingError.dataCorruptedError(forKey: .seed, in: c, debugDescription: "seed must be in 0...\(Int64.max)") }
            seed = UInt64(value)
        } else {
            seed = nil
        }
    }
}

/// A key for any field name, to read every field an object has.
private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Refuses a request body's field that `Key` does not name: a misspelt optional field (a
    /// `"hyperparamters"`) would otherwise be read past, and its defaults used without a word.
    func refuseUnknownFields<Key: CodingKey & CaseIterable>(_ keys: Key.Type) throws {
        let all = try container(keyedBy: AnyCodingKey.self)
        let known = Key.allCases.map(\.stringValue)
        if let unknown = all.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(
                forKey: unknown, in: all, debugDescription: "unknown field \"\(unknown.stringValue)\"; known: \(known.sorted().joined(separator: ", "))")
        }
    }
}

extension KeyedDecodingContainer {
    /// An optional field: absent is nil, but an explicit `null` is refused like any other wrong
    /// type (the document says "an array", not "an array or null").
    func decodeUnlessAbsent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        contains(key) ? try decode(T.self, forKey: key) : nil
    }
}

/// `GET /v1/streams/{id}` (and the 201 of creation).
struct StreamInfo: Encodable {
    var id: String
    var labels: [String]
    var templates: [String]?
    var prompts: [String: [String]]?
    var hyperparameters: RAdaHyperparameters
    var createdAt: Date
    /// Requests (batches) processed; `optimizerSteps` counts the optimiser's steps.
    var requests: Int
    var samplesSeen: Int
    var optimizerSteps: Int
    var skippedSteps: Int
    var automaticResets: Int
    /// Running mean of per-sample prediction entropy (nats); null before the first request.
    var runningEntropy: Float?
    var memoryBytes: Int
    var checkpoints: [String]
    var centring: CentringStatus
    var gaussians: GaussianStatus
    var domainMemory: DomainMemoryStatus
}

/// Where a stream's memory of domains stands: the states it can hold and stores now, and the
/// shifts and restores since creation or the last reset (all 0 while it is off).
struct DomainMemoryStatus: Encodable {
    /// States it can hold for this stream (`StreamState.appliedDomainMemory`).
    var capacity: Int
    var storedStates: Int
    var shifts: Int
    var restores: Int

    init(_ state: StreamState) {
        capacity = state.appliedDomainMemory.capacity
        storedStates = state.domains.entries.count
        shifts = state.domains.shifts
        restores = state.domains.restores
    }
}

/// Where a stream's class Gaussians stand: the weight their scores get in the next request and
/// what they have learnt.
struct GaussianStatus: Encodable {
    /// min(ρ·mean evidence, η) × centring's gate; 0 while the fusion is off or the gate shut.
    var weight: Double
    /// Images learnt since creation or the last reset.
    var images: Double
    /// mean_k c_k: one (the prior) plus the mean class evidence left after forgetting.
    var meanEvidence: Double

    init(_ state: StreamState) {
        weight = state.gaussianWeight
        images = state.gaussians.images
        meanEvidence = state.gaussians.isEmpty ? 1 : 1 + state.gaussians.evidence.reduce(0, +) / Double(state.classes)
    }
}

/// Where a stream's embedding centring stands: how much of the running mean the next request
/// subtracts, and the evidence behind it.
struct CentringStatus: Encodable {
    /// g·a: the share of the running mean subtracted now (0 while off, empty or gated shut).
    var share: Float
    /// ū: the running mean of zero-shot CLIP's entropy on the stream's images, a fraction of log K.
    var zeroShotEntropy: Double
    /// The running means' total weight, in images (at most about the memory M plus one request).
    var images: Double

    init(_ state: StreamState) {
        share = state.embeddingMean.share(state.hyperparameters.centring)
        zeroShotEntropy = state.embeddingMean.entropy
        images = state.embeddingMean.weight
    }
}

/// `GET /v1/streams/{id}/history`.
struct HistoryResponse: Codable, Equatable {
    var id: String
    /// The stream's labels: a request entry's `classes` index into them.
    var labels: [String]
    /// The ring's size in bytes (its stored form) and what it holds now.
    var budgetBytes: Int
    var usedBytes: Int
    /// `seq` of the newest entry (0 before the first).
    var latest: Int
    /// More entries follow the last one returned (ask again with `since` = its `seq`).
    var more: Bool
    var entries: [StreamHistory.Entry]
}

struct StreamList: Encodable {
    struct Item: Encodable {
        var id: String
        var labels: Int
        var createdAt: Date
    }
    var streams: [Item]
}

struct ClassifyResponse: Encodable {
    struct Label: Encodable {
        var label: String
        var probability: Float
    }
    struct Result: Encodable {
        var top: [Label]
        /// Prediction entropy of this image (nats).
        var entropy: Float
    }
    var results: [Result]
    /// The stream's request count after this request (absent for stateless classification).
    var request: Int?
    /// Optimiser steps this request took before its answer.
    var optimizerSteps: Int?
}

struct CheckpointRequest: Decodable {
    var name: String

    private enum CodingKeys: String, CodingKey, CaseIterable { case name }

    init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownFields(CodingKeys.self)
        name = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .name)
    }
}

struct CheckpointInfo: Encodable {
    var name: String
    var bytes: Int
    var createdAt: Date?
}

struct CheckpointList: Encodable {
    var checkpoints: [CheckpointInfo]
}

struct StatelessClassifyRequest: Decodable {
    var labels: [String]?
    var prompts: [String: [String]]?
    var templates: [String]?
    var images: [String]

    private enum CodingKeys: String, CodingKey, CaseIterable { case labels, prompts, templates, images }

    init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownFields(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        labels = try c.decodeUnlessAbsent([String].self, forKey: .labels)
        prompts = try c.decodeUnlessAbsent([String: [String]].self, forKey: .prompts)
        templates = try c.decodeUnlessAbsent([String].self, forKey: .templates)
        images = try c.decode([String].self, forKey: .images)
    }
}

/// Any JSON value (used for partial hyper-parameters merged over defaults).
indirect enum JSONValue: Codable, Equatable, Sendable {
    case null, bool(Bool), integer(Int), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    /// Most values one decoder may build as `JSONValue`s (a hyper-parameters patch names a few
    /// dozen). Each costs up to five failed decodes before its type is found, each failure an
    /// error carrying its coding path: 70 000 `{}` (the most `JSONShape` lets through) would
    /// take about 0.4 s of CPU, 4096 take a few ms.
    static let maxValues = 4096

    /// What is left of a decoder's `maxValues` (one decoding, one thread).
    final class Budget: @unchecked Sendable {
        var remaining = JSONValue.maxValues
    }

    static let budgetKey = CodingUserInfoKey(rawValue: "rada.JSONValue.budget")!

    /// A decoder for request bodies: the `JSONValue`s in what it decodes count against one
    /// `maxValues` budget.
    static func boundedDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.userInfo[budgetKey] = Budget()
        return decoder
    }

    init(from decoder: any Decoder) throws {
        let budget = decoder.userInfo[Self.budgetKey] as? Budget
        // Once spent, every value fails at once, also inside the `try?`s of the values around it;
        // the outermost reports why.
        let spent = DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath, debugDescription: "more than \(Self.maxValues) values in free-form JSON"))
        if let budget {
            guard budget.remaining > 0 else { throw spent }
            budget.remaining -= 1
        }
        do {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let v = try? c.decode(Bool.self) { self = .bool(v) }
            else if let v = try? c.decode(Int.self) { self = .integer(v) }
            else if let v = try? c.decode(Double.self) { self = .number(v) }
            else if let v = try? c.decode(String.self) { self = .string(v) }
            else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
            else { self = .object(try c.decode([String: JSONValue].self)) }
        } catch {
            if let budget, budget.remaining <= 0 { throw spent }
            throw error
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(v): try c.encode(v)
        case let .integer(v): try c.encode(v)
        case let .number(v): try c.encode(v)
        case let .string(v): try c.encode(v)
        case let .array(v): try c.encode(v)
        case let .object(v): try c.encode(v)
        }
    }

    /// Paths of the `null` values inside objects (field names from the top).
    func nullPaths(_ prefix: [String] = []) -> [[String]] {
        guard case let .object(fields) = self else { return [] }
        return fields.sorted { $0.key < $1.key }.flatMap { key, value in value == .null ? [prefix + [key]] : value.nullPaths(prefix + [key]) }
    }

    /// The value at a path of object fields; nil when absent.
    func value(at path: [String]) -> JSONValue? {
        path.reduce(Optional(self)) { node, key in
            guard case let .object(fields)? = node else { return nil }
            return fields[key]
        }
    }

    /// `self` with `patch`'s object fields applied recursively.
    func merged(with patch: JSONValue) -> JSONValue {
        guard case var .object(base) = self, case let .object(changes) = patch else { return patch }
        for (key, value) in changes { base[key] = base[key].map { $0.merged(with: value) } ?? value }
        return .object(base)
    }
}

extension RAdaHyperparameters {
    /// Every field a hyperparameters patch may name, at every depth.
    static let fieldTree = FieldTree(reflecting: RAdaHyperparameters())

    /// The defaults with a client's partial hyper-parameters applied; 422 for unknown fields (at
    /// any depth) or bad values.
    static func resolving(_ patch: JSONValue?) throws -> RAdaHyperparameters {
        guard let patch else { return RAdaHyperparameters() }
        guard case .object = patch else { throw APIError.unprocessable("\"hyperparameters\" must be a JSON object") }
        let defaults = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(RAdaHyperparameters()))
        // Nested objects too: a field the settings do not have would otherwise be dropped
        // without a word by their decoders.
        if let unknown = fieldTree.unknownPath(in: try JSONSerialization.jsonObject(with: JSONEncoder().encode(patch))) {
            let known = fieldTree.subtree(Array(unknown.dropLast()))?.fields.keys.sorted() ?? []
            throw APIError.unprocessable(
                "unknown hyperparameters field \"\(unknown.joined(separator: "."))\"; known\(unknown.count > 1 ? " there" : ""): \(known.joined(separator: ", "))")
        }
        let resolved: RAdaHyperparameters
        do {
            resolved = try JSONDecoder().decode(RAdaHyperparameters.self, from: JSONEncoder().encode(defaults.merged(with: patch)))
            try resolved.validate()
        } catch let error as DecodingError {
            throw APIError.unprocessable("invalid hyperparameters: \(DecodingError.summary(error))")
        } catch {
            throw APIError.unprocessable("invalid hyperparameters: \(error)")
        }
        // `null` switches an optional setting off. A field that still has a value after
        // decoding is not optional: its decoder read null as "absent" (fields older stored
        // hyper-parameter sets lack), which is not what a client sending null means.
        let encoded = try? JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(resolved))
        if let path = patch.nullPaths().first(where: { encoded?.value(at: $0) != nil }) {
            throw APIError.unprocessable("hyperparameters field \"\(path.joined(separator: "."))\" cannot be null")
        }
        return resolved
    }
}
