/// Tensor names of a Hugging Face `CLIPModel` checkpoint (`model.safetensors`).
enum HuggingFaceWeights {
    static func vision(_ reader: WeightReader, _ config: CLIPConfig) throws -> VisionTower {
        let tower = config.vision
        let prefix = "vision_model"
        return VisionTower(
            imageSize: config.imageSize, patchSize: config.patchSize, channels: config.channels,
            patchWeight: try reader.patchEmbedding(
                "\(prefix).embeddings.patch_embedding.weight", width: tower.width, channels: config.channels,
                patch: config.patchSize),
            classEmbedding: try reader.vector("\(prefix).embeddings.class_embedding", tower.width),
            positions: try reader.tensor("\(prefix).embeddings.position_embedding.weight", [config.visionTokens, tower.width]),
            lnPre: try reader.layerNorm("\(prefix).pre_layrnorm", tower.width),
            transformer: try transformer(reader, "\(prefix).encoder.layers", tower),
            lnPost: try reader.layerNorm("\(prefix).post_layernorm", tower.width),
            projection: try reader.linear("visual_projection.weight", outputs: config.embedDim, inputs: tower.width))
    }

    static func text(_ reader: WeightReader, _ config: CLIPConfig) throws -> TextTower {
        let tower = config.text
        let prefix = "text_model"
        return TextTower(
            vocabSize: config.vocabSize, contextLength: config.contextLength,
            tokenEmbedding: try reader.tensor("\(prefix).embeddings.token_embedding.weight", [config.vocabSize, tower.width]),
            positions: try reader.tensor("\(prefix).embeddings.position_embedding.weight", [config.contextLength, tower.width]),
            transformer: try transformer(reader, "\(prefix).encoder.layers", tower),
            lnFinal: try reader.layerNorm("\(prefix).final_layer_norm", tower.width),
            projection: try reader.linear("text_projection.weight", outputs: config.embedDim, inputs: tower.width),
            pooling: config.textPooling)
    }

    private static func transformer(_ reader: WeightReader, _ prefix: String, _ tower: CLIPConfig.Tower) throws -> Transformer {
        let w = tower.width
        let layers = try (0..<tower.layers).map { index -> TransformerLayer in
            let p = "\(prefix).\(index)"
            // Stack Q, K, V as output rows, then transpose once: in × [q | k | v].
            let stacked = try ["q", "k", "v"].flatMap { try reader.tensor("\(p).self_attn.\($0)_proj.weight", [w, w]) }
            let ln1 = try reader.layerNorm("\(p).layer_norm1", w)
            let ln2 = try reader.layerNorm("\(p).layer_norm2", w)
            return TransformerLayer(
                ln1Gamma: ln1.gamma, ln1Beta: ln1.beta,
                qkvWeight: transpose(stacked, rows: 3 * w, cols: w),
                qkvBias: try ["q", "k", "v"].flatMap { try reader.vector("\(p).self_attn.\($0)_proj.bias", w) },
                outWeight: try reader.linear("\(p).self_attn.out_proj.weight", outputs: w, inputs: w),
                outBias: try reader.vector("\(p).self_attn.out_proj.bias", w),
                ln2Gamma: ln2.gamma, ln2Beta: ln2.beta,
                fc1Weight: try reader.linear("\(p).mlp.fc1.weight", outputs: tower.mlpWidth, inputs: w),
                fc1Bias: try reader.vector("\(p).mlp.fc1.bias", tower.mlpWidth),
                fc2Weight: try reader.linear("\(p).mlp.fc2.weight", outputs: w, inputs: tower.mlpWidth),
                fc2Bias: try reader.vector("\(p).mlp.fc2.bias", w))
        }
        return Transformer(tower: tower, layers: layers)
    }
}
