import Foundation

/// The classes a classifier chooses between, each with the texts whose embeddings are averaged
/// to represent it (CLIP's prompt ensembling).
public struct ClassSet: Sendable, Codable, Equatable {
    /// What each class is called in results.
    public var labels: [String]
    /// For each label, the prompts to ensemble (at least one each).
    public var prompts: [[String]]

    public init(labels: [String], prompts: [[String]]) throws(ClassSetError) {
        guard !labels.isEmpty else { throw .noLabels }
        guard labels.count == prompts.count else { throw .promptCountMismatch(labels: labels.count, prompts: prompts.count) }
        var seen = Set<String>()
        for (label, texts) in zip(labels, prompts) {
            guard !label.isEmpty else { throw .emptyLabel }
            guard seen.insert(label).inserted else { throw .duplicateLabel(label) }
            guard !texts.isEmpty else { throw .noPrompts(label) }
        }
        self.labels = labels
        self.prompts = prompts
    }

    /// Each label put into every template; `{}` marks where the label goes (a template without
    /// `{}` is used as a prefix: "a photo of" + " " + label).
    public static func templated(labels: [String], templates: [String]) throws(ClassSetError) -> ClassSet {
        guard !templates.isEmpty else { throw .noTemplates }
        let prompts = labels.map { label in templates.map { Self.fill($0, with: label) } }
        return try ClassSet(labels: labels, prompts: prompts)
    }

    static func fill(_ template: String, with label: String) -> String {
        template.contains("{}") ? template.replacingOccurrences(of: "{}", with: label) : template + " " + label
    }
}

/// Why a class set was refused.
public enum ClassSetError: Error, CustomStringConvertible, Equatable, Sendable {
    case noLabels
    case emptyLabel
    case duplicateLabel(String)
    case noPrompts(String)
    case noTemplates
    case promptCountMismatch(labels: Int, prompts: Int)

    public var description: String {
        switch self {
        case .noLabels: "a class set needs at least one label"
        case .emptyLabel: "a label is empty"
        case .duplicateLabel(let label): "label \"\(label)\" appears twice; labels must be unique"
        case .noPrompts(let label): "label \"\(label)\" has no prompts"
        case .noTemplates: "at least one template is needed (use \"{}\" to take each label as it is)"
        case .promptCountMismatch(let l, let p): "\(l) labels but \(p) prompt lists"
        }
    }
}
