import Foundation

extension CLIPConfig {
    /// Reads an OpenCLIP `open_clip_config.json` (`model_cfg` + optional `preprocess_cfg`).
    /// Absent keys take OpenCLIP's `CLIPVisionCfg`/`CLIPTextCfg` defaults; options that change the
    /// architecture beyond a plain ViT CLIP are refused by name rather than silently ignored.
    static func openCLIP(configURL: URL) throws -> CLIPConfig {
        let root = try ConfigJSON(url: configURL)
        let model = try root.child("model_cfg")
        let visionJSON = try model.child("vision_cfg")
        let textJSON = try model.child("text_cfg")
        try refuseUnsupported(vision: visionJSON, text: textJSON)

        let activation: Activation = try model.bool("quick_gelu", default: false) ? .quickGelu : .gelu
        let visionWidth = try visionJSON.positiveInt("width", default: 768)
        let headWidth = try visionJSON.positiveInt("head_width", default: 64)
        guard visionWidth % headWidth == 0 else {
            throw visionJSON.invalid("head_width", "(\(headWidth)) must divide width (\(visionWidth))")
        }
        let vision = Tower(
            width: visionWidth,
            layers: try visionJSON.positiveInt("layers", default: 12),
            heads: visionWidth / headWidth,
            mlpWidth: Int(Double(visionWidth) * (try visionJSON.double("mlp_ratio", default: 4))),
            activation: activation,
            layerNormEps: try eps(visionJSON))
        let textWidth = try textJSON.positiveInt("width", default: 512)
        let text = Tower(
            width: textWidth,
            layers: try textJSON.positiveInt("layers", default: 12),
            heads: try textJSON.positiveInt("heads", default: 8),
            mlpWidth: Int(Double(textWidth) * (try textJSON.double("mlp_ratio", default: 4))),
            activation: activation,
            layerNormEps: try eps(textJSON))
        guard text.width % text.heads == 0 else {
            throw textJSON.invalid("heads", "(\(text.heads)) must divide width (\(text.width))")
        }

        let imageSize = try squareSize(visionJSON, "image_size", default: 224)
        let patchSize = try squareSize(visionJSON, "patch_size", default: 16)
        guard imageSize % patchSize == 0 else {
            throw visionJSON.invalid("patch_size", "(\(patchSize)) must divide image_size (\(imageSize))")
        }

        let pooling: TextPooling
        switch try textJSON.string("pool_type", default: "argmax") {
        case "argmax": pooling = .argmaxTokenId
        case "eos": pooling = .firstOccurrence(of: try textJSON.int("eos_id", default: 2))
        case "last": pooling = .last
        case let other: throw textJSON.unsupported("pool_type", "'\(other)'; supported: argmax, eos, last")
        }

        let preprocess = try root.child("preprocess_cfg")
        let mean = try preprocess.floats("mean", count: 3, default: openAIMean)
        let std = try preprocess.floats("std", count: 3, default: openAIStd)
        guard std.allSatisfy({ $0 > 0 }) else { throw preprocess.invalid("std", "must be positive") }

        return CLIPConfig(
            layout: .openCLIP, vision: vision, text: text, imageSize: imageSize, patchSize: patchSize,
            channels: 3,
            contextLength: try textJSON.positiveInt("context_length", default: 77),
            vocabSize: try textJSON.positiveInt("vocab_size", default: 49408),
            embedDim: try model.positiveInt("embed_dim", default: 512),
            textPooling: pooling,
            logitScale: 1 / 0.07,
            imageMean: mean, imageStd: std)
    }

    /// Layer-norm epsilon: PyTorch's 1e-5 unless `norm_kwargs.eps` says otherwise.
    private static func eps(_ tower: ConfigJSON) throws -> Float {
        let value = Float(try tower.child("norm_kwargs").double("eps", default: 1e-5))
        guard value > 0 else { throw tower.invalid("norm_kwargs.eps", "must be positive") }
        return value
    }

    /// OpenCLIP allows an int or an `[h, w]` pair; only square inputs are supported here.
    private static func squareSize(_ json: ConfigJSON, _ key: String, default fallback: Int) throws -> Int {
        if let pair = json.object[key] as? [Any] {
            guard pair.count == 2, let h = pair[0] as? Int, let w = pair[1] as? Int, h == w, h > 0 else {
                throw json.unsupported(key, "only square sizes are supported, found \(pair)")
            }
            return h
        }
        return try json.positiveInt(key, default: fallback)
    }

    private static func refuseUnsupported(vision: ConfigJSON, text: ConfigJSON) throws {
        if let layers = vision.object["layers"], !(layers is NSNumber) {
            throw vision.unsupported("layers", "a per-stage list means a ResNet tower; only ViT towers are supported")
        }
        for (json, key) in [(vision, "timm_model_name"), (text, "hf_model_name")] where json.has(key) {
            throw json.unsupported(key, "external towers are not supported")
        }
        for json in [vision, text] where json.has("ls_init_value") {
            throw json.unsupported("ls_init_value", "layer scale is not supported")
        }
        let flags = [
            (vision, "attentional_pool"), (vision, "no_ln_pre"), (text, "embed_cls"), (text, "no_causal_mask"),
            (text, "proj_bias"),
        ]
        for (json, key) in flags where try json.bool(key, default: false) {
            throw json.unsupported(key, "must be false for a plain ViT CLIP")
        }
        for (json, key, expected) in [(vision, "pool_type", "tok"), (vision, "pos_embed_type", "learnable"), (text, "proj_type", "linear")] {
            let value = try json.string(key, default: expected)
            guard value == expected else { throw json.unsupported(key, "'\(value)'; only '\(expected)' is supported") }
        }
        for json in [vision, text] where !(json.object["act_kwargs"] as? [String: Any] ?? [:]).isEmpty {
            throw json.unsupported("act_kwargs", "activation arguments are not supported")
        }
    }
}
