import Foundation

/// Why a `preprocessor_config.json` could not be turned into an `ImagePreprocessor`.
public enum ImagePreprocessorConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    case notJSONObject
    case invalidValue(key: String, reason: String)
    case unsupported(key: String, reason: String)

    public var description: String {
        switch self {
        case .notJSONObject:
            return "preprocessor_config.json is not a JSON object"
        case let .invalidValue(key, reason):
            return "preprocessor_config.json: invalid \"\(key)\": \(reason)"
        case let .unsupported(key, reason):
            return "preprocessor_config.json: unsupported \"\(key)\": \(reason)"
        }
    }
}

extension ImagePreprocessor {
    /// Reads a Hugging Face `preprocessor_config.json` (CLIPImageProcessor), with transformers'
    /// defaults for absent keys: `size` (an int or `{"shortest_edge": n}`, default 224),
    /// `crop_size` (an int or a square `{"height", "width"}`, default 224), `image_mean` /
    /// `image_std` (three numbers or one for all channels, default OpenAI's), `rescale_factor`
    /// (default 1/255), `do_resize`, `do_center_crop`, `do_rescale`, `do_normalize`, and
    /// `resample`, which must be 3 (bicubic). Exact `{"height", "width"}` resizing and
    /// non-square crops are refused rather than silently approximated.
    public init(huggingFaceConfig data: Data) throws(ImagePreprocessorConfigError) {
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch { throw .notJSONObject }
        guard let config = parsed as? [String: Any] else { throw .notJSONObject }

        if let resample = config["resample"], !(resample is NSNull) {
            guard let filter = Self.integer(resample), filter == 3 else {
                throw .unsupported(key: "resample", reason: "\(resample); only 3 (bicubic) is implemented")
            }
        }
        let resizes = try Self.flag(config, "do_resize")
        let crops = try Self.flag(config, "do_center_crop")
        let rescales = try Self.flag(config, "do_rescale")
        let normalizes = try Self.flag(config, "do_normalize")

        var edge = 224
        if let size = config["size"], !(size is NSNull) {
            if let n = Self.integer(size) {
                edge = n
            } else if let dict = size as? [String: Any], let n = dict["shortest_edge"].flatMap(Self.integer) {
                if dict["longest_edge"] != nil {
                    throw .unsupported(key: "size", reason: "longest_edge (max_size) is not implemented")
                }
                edge = n
            } else if resizes {
                throw .unsupported(key: "size", reason: "\(size); only an int or {\"shortest_edge\": n} is implemented")
            }
        }
        var crop = 224
        if let size = config["crop_size"], !(size is NSNull) {
            if let n = Self.integer(size) {
                crop = n
            } else if let dict = size as? [String: Any], let h = dict["height"].flatMap(Self.integer),
                      let w = dict["width"].flatMap(Self.integer) {
                guard h == w else {
                    throw .unsupported(key: "crop_size", reason: "\(h)x\(w); only square crops are implemented")
                }
                crop = h
            } else {
                throw .invalidValue(key: "crop_size", reason: "\(size)")
            }
        }
        guard edge > 0 else { throw .invalidValue(key: "size", reason: "\(edge) is not positive") }
        guard crop > 0 else { throw .invalidValue(key: "crop_size", reason: "\(crop) is not positive") }

        var mean = Self.openAIMean, std = Self.openAIStd
        if normalizes {
            mean = try Self.channels(config, "image_mean") ?? mean
            std = try Self.channels(config, "image_std") ?? std
            if let zero = std.firstIndex(of: 0) {
                throw .invalidValue(key: "image_std", reason: "channel \(zero) is zero")
            }
        } else {
            mean = [0, 0, 0]  // (x - 0) / 1 == x exactly in Float
            std = [1, 1, 1]
        }
        var factor = 1.0 / 255.0
        if let value = config["rescale_factor"], !(value is NSNull) {
            guard let number = value as? NSNumber, !(value is Bool) else {
                throw .invalidValue(key: "rescale_factor", reason: "\(value) is not a number")
            }
            factor = number.doubleValue
        }
        self.init(resizeShortestEdge: edge, cropSize: crop, mean: mean, std: std,
                  rescaleFactor: rescales ? factor : 1.0, resizes: resizes, centerCrops: crops)
    }

    private static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber, !(value is Bool) else { return nil }
        let double = number.doubleValue
        return double == double.rounded() && abs(double) < 1e9 ? Int(double) : nil
    }

    private static func flag(_ config: [String: Any], _ key: String) throws(ImagePreprocessorConfigError) -> Bool {
        guard let value = config[key], !(value is NSNull) else { return true }
        guard let flag = value as? Bool else { throw .invalidValue(key: key, reason: "\(value) is not true/false") }
        return flag
    }

    /// Three per-channel numbers, or one number for every channel; nil when the key is absent.
    private static func channels(_ config: [String: Any], _ key: String) throws(ImagePreprocessorConfigError) -> [Float]? {
        guard let value = config[key], !(value is NSNull) else { return nil }
        // Float(Double) rounds to nearest, as numpy's float64 -> float32 cast does.
        if let one = value as? NSNumber, !(value is Bool) { return Array(repeating: Float(one.doubleValue), count: 3) }
        guard let list = value as? [Any], list.count == 3,
              let numbers = Optional(list.compactMap { $0 as? NSNumber }), numbers.count == 3 else {
            throw .invalidValue(key: key, reason: "\(value); expected 3 numbers or one number")
        }
        return numbers.map { Float($0.doubleValue) }
    }
}
