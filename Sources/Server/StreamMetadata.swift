import Foundation

/// What a stream was created with; stored as `meta.json` next to its state and never changed.
struct StreamMetadata: Codable, Sendable {
    var id: String
    var client: String
    var labels: [String]
    var prompts: [String: [String]]?
    var templates: [String]?
    var createdAt: Date
    var seed: UInt64

    /// What a listing shows of a stream. Decoded alone, the prompts are skipped rather than
    /// built: a stream with 480 labels × 64 prompts of 1000 '/' (61 MB of metadata, every '/'
    /// stored escaped) took 1.7 s to decode whole and 0.07 s this way, and a listing decodes
    /// every stream of its client.
    struct Summary: Decodable {
        var labels: [String]
        var createdAt: Date
    }
}
