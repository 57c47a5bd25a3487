/// The field names a settings value has, nested as its settings are: the stored properties of
/// each struct, read by reflection, so a field added to the settings is known here without a
/// second list. (The settings' Codable keys are their property names; `ContractTests` checks the
/// tree against the OpenAPI document's.) Numbers, strings, enums and nil optionals are leaves.
struct FieldTree: Sendable, Equatable {
    var fields: [String: FieldTree]

    init(fields: [String: FieldTree]) { self.fields = fields }

    init(reflecting value: Any) {
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

    /// The first field `patch` names, in key order and depth first, that is not here; nil when
    /// every name is known. Only objects are walked: a value of the wrong type is the decoder's
    /// to refuse.
    func unknownPath(in patch: JSONValue, prefix: [String] = []) -> [String]? {
        guard case let .object(given) = patch else { return nil }
        for key in given.keys.sorted() {
            guard let child = fields[key] else { return prefix + [key] }
            if !child.fields.isEmpty, let value = given[key], let path = child.unknownPath(in: value, prefix: prefix + [key]) {
                return path
            }
        }
        return nil
    }

    /// The tree at `path` (nil: no such field).
    func subtree(_ path: [String]) -> FieldTree? {
        path.reduce(Optional(self)) { $0?.fields[$1] }
    }
}
