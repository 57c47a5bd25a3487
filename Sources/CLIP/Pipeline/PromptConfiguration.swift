import Foundation

/// A model's own prompt set (`prompts.json` beside the weights): its class names and the
/// templates it was made for. Optional: real CLIP checkpoints do not ship one.
public struct PromptConfiguration: Sendable, Codable, Equatable {
    public var labels: [String]?
    public var templates: [String]
    /// Templates kept out of training, for testing zero-shot on unseen prompts.
    public var heldoutTemplates: [String]?

    enum CodingKeys: String, CodingKey {
        case labels, templates
        case heldoutTemplates = "heldout_templates"
    }

    /// Reads the file, or returns nil when there is none.
    public static func load(from url: URL) throws -> PromptConfiguration? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let value = try JSONDecoder().decode(PromptConfiguration.self, from: Data(contentsOf: url))
            guard !value.templates.isEmpty else {
                throw EncoderError.invalidPrompts(path: url.path, reason: "\"templates\" is empty")
            }
            return value
        } catch let error as EncoderError {
            throw error
        } catch {
            throw EncoderError.invalidPrompts(path: url.path, reason: "\(error)")
        }
    }
}
