import Foundation

extension CLIPConfig {
    /// Reads a Hugging Face `CLIPModel` config (and `preprocessor_config.json` when given).
    /// Absent keys take the defaults that `transformers`' `CLIPTextConfig`/`CLIPVisionConfig` use,
    /// because that is how Hugging Face itself reads a partial config.
    static func huggingFace(configURL: URL, preprocessorURL: URL?) throws -> CLIPConfig {
        let root = try ConfigJSON(url: configURL)
        // Older configs carry `text_config_dict`/`vision_config_dict`; transformers then builds
        // the tower config from that dict alone (its values and defaults win over `text_config`).
        let textJSON = try root.child(root.has("text_config_dict") ? "text_config_dict" : "text_config")
        let visionJSON = try root.child(root.has("vision_config_dict") ? "vision_config_dict" : "vision_config")
        let text = try tower(textJSON, width: 512, layers: 12, heads: 8, mlp: 2048)
        let vision = try tower(visionJSON, width: 768, layers: 12, heads: 12, mlp: 3072)
        let imageSize = try visionJSON.positiveInt("image_size", default: 224)
        let patchSize = try visionJSON.positiveInt("patch_size", default: 32)
        guard imageSize % patchSize == 0 else {
            throw visionJSON.invalid("patch_size", "(\(patchSize)) must divide image_size (\(imageSize))")
        }
        let channels = try visionJSON.positiveInt("num_channels", default: 3)

        let eos = try textJSON.int("eos_token_id", default: 49407)
        // transformers keeps argmax pooling for configs written before its eos_token_id fix,
        // which all carry the placeholder 2.
        let pooling: TextPooling = eos == 2 ? .argmaxTokenId : .firstOccurrence(of: eos)

        var mean = openAIMean
        var std = openAIStd
        if let preprocessorURL, FileManager.default.fileExists(atPath: preprocessorURL.path) {
            let preprocessor = try ConfigJSON(url: preprocessorURL)
            mean = try preprocessor.floats("image_mean", count: channels, default: mean)
            std = try preprocessor.floats("image_std", count: channels, default: std)
            guard std.allSatisfy({ $0 > 0 }) else { throw preprocessor.invalid("image_std", "must be positive") }
        }
        guard mean.count == channels, std.count == channels else {
            throw visionJSON.invalid("num_channels", "is \(channels) but no preprocessor_config.json gives per-channel mean/std")
        }

        return CLIPConfig(
            layout: .huggingFace, vision: vision, text: text, imageSize: imageSize, patchSize: patchSize,
            channels: channels,
            contextLength: try textJSON.positiveInt("max_position_embeddings", default: 77),
            vocabSize: try textJSON.positiveInt("vocab_size", default: 49408),
            embedDim: try root.positiveInt("projection_dim", default: 512),
            textPooling: pooling,
            logitScale: Float(Foundation.exp(try root.double("logit_scale_init_value", default: 2.6592))),
            imageMean: mean, imageStd: std)
    }

    private static func tower(_ json: ConfigJSON, width: Int, layers: Int, heads: Int, mlp: Int) throws -> Tower {
        let activationName = try json.string("hidden_act", default: "quick_gelu")
        guard let activation = Activation(rawValue: activationName) else {
            throw json.unsupported("hidden_act", "'\(activationName)'; supported: quick_gelu, gelu")
        }
        let tower = Tower(
            width: try json.positiveInt("hidden_size", default: width),
            layers: try json.positiveInt("num_hidden_layers", default: layers),
            heads: try json.positiveInt("num_attention_heads", default: heads),
            mlpWidth: try json.positiveInt("intermediate_size", default: mlp),
            activation: activation,
            layerNormEps: Float(try json.double("layer_norm_eps", default: 1e-5)))
        guard tower.width % tower.heads == 0 else {
            throw json.invalid("num_attention_heads", "(\(tower.heads)) must divide hidden_size (\(tower.width))")
        }
        guard tower.layerNormEps > 0 else { throw json.invalid("layer_norm_eps", "must be positive") }
        return tower
    }
}
