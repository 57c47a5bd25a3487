import Foundation

/// Typed, defaulted access to a JSON object, with errors that name the file and the key path.
struct ConfigJSON {
    let file: String
    let prefix: String
    let object: [String: Any]

    init(file: String, prefix: String = "", object: [String: Any]) {
        self.file = file
        self.prefix = prefix
        self.object = object
    }

    /// Reads and parses `url`, which must hold a JSON object.
    init(url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CheckpointError.invalidConfig(file: url.path, key: "", reason: "is not a JSON object")
        }
        self.init(file: url.path, object: object)
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func invalid(_ key: String, _ reason: String) -> CheckpointError {
        .invalidConfig(file: file, key: path(key), reason: reason)
    }

    func unsupported(_ key: String, _ reason: String) -> CheckpointError {
        .unsupportedConfig(file: file, key: path(key), reason: reason)
    }

    /// A nested object (empty when absent, as Hugging Face then uses every default).
    func child(_ key: String) throws -> ConfigJSON {
        guard has(key) else { return ConfigJSON(file: file, prefix: path(key), object: [:]) }
        guard let nested = object[key] as? [String: Any] else { throw invalid(key, "must be an object") }
        return ConfigJSON(file: file, prefix: path(key), object: nested)
    }

    /// A positive integer, or `fallback` when absent.
    func positiveInt(_ key: String, default fallback: Int) throws -> Int {
        guard has(key) else { return fallback }
        guard let number = object[key] as? NSNumber, number.doubleValue == number.doubleValue.rounded(),
              number.intValue > 0
        else { throw invalid(key, "must be a positive integer, found \(object[key]!)") }
        return number.intValue
    }

    func int(_ key: String, default fallback: Int) throws -> Int {
        guard has(key) else { return fallback }
        guard let number = object[key] as? NSNumber, number.doubleValue == number.doubleValue.rounded()
        else { throw invalid(key, "must be an integer, found \(object[key]!)") }
        return number.intValue
    }

    func double(_ key: String, default fallback: Double) throws -> Double {
        guard has(key) else { return fallback }
        guard let number = object[key] as? NSNumber, number.doubleValue.isFinite else {
            throw invalid(key, "must be a finite number, found \(object[key]!)")
        }
        return number.doubleValue
    }

    func string(_ key: String, default fallback: String) throws -> String {
        guard has(key) else { return fallback }
        guard let string = object[key] as? String else { throw invalid(key, "must be a string") }
        return string
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard has(key) else { return fallback }
        guard let number = object[key] as? NSNumber else { throw invalid(key, "must be true or false") }
        return number.boolValue
    }

    /// A list of `count` finite numbers, or `fallback` when absent.
    func floats(_ key: String, count: Int, default fallback: [Float]) throws -> [Float] {
        guard has(key) else { return fallback }
        guard let list = object[key] as? [Any], list.count == count else {
            throw invalid(key, "must be a list of \(count) numbers")
        }
        return try list.map { element in
            guard let number = element as? NSNumber, number.doubleValue.isFinite else {
                throw invalid(key, "must be a list of \(count) numbers")
            }
            return number.floatValue
        }
    }
}
