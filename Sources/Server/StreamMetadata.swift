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
}
