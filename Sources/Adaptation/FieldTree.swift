import Foundation

/// The field names a settings value has, nested as its settings are: the stored properties of
/// each struct, read by reflection, so a field added to the settings is known here without a
/// second list. (The settings' and the checkpoint header's Codable keys are their property names;
/// the server's `ContractTests` check the hyper-parameters' tree against the OpenAPI document's.)
/// Numbers, strings, enums and optionals that are nil are leaves.
public struct FieldTree: Sendable, Equatable {
    public var fields: [String: FieldTree]

    public init(fields: [String: FieldTree]) { self.fields = fields }

    public init(reflecting value: Any) {
        var mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional, let wrapped = mirror.children.first?.value { mirror = Mirror(reflecting: wrapped) }
        guard mirror.displayStyle == .struct else {
            fields = [:]
            return
        }
        var fields = [String: FieldTree]()
        for child in mirror.children {
            if let label = child.label { fields[label] = FieldTree(reflecting: child.value) }
        }
        self.fields = fields
    }

    /// The first field `object` (a `JSONSerialization` value) names, in key order and depth
    /// first, that is not here; nil when every name is known. Only objects are walked: a value
    /// of the wrong type is the decoder's to refuse.
    public func unknownPath(in object: Any, prefix: [String] = []) -> [String]? {
        guard let given = object as? [String: Any] else { return nil }
        for key in given.keys.sorted() {
            guard let child = fields[key] else { return prefix + [key] }
            if !child.fields.isEmpty, let value = given[key], let path = child.unknownPath(in: value, prefix: prefix + [key]) {
                return path
            }
        }
        return nil
    }

    /// The tree at `path` (nil: no such field).
    public func subtree(_ path: [String]) -> FieldTree? {
        path.reduce(Optional(self)) { $0?.fields[$1] }
    }
}
