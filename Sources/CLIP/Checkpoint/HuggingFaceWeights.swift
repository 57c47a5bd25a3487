/// Tensor names of a Hugging Face `CLIPModel` checkpoint (`model.safetensors`).
enum HuggingFaceWeights {
    static func vision(_ reader: WeightReader, _ config: CLIPConfig) throws -> VisionTower {
        let tower = config.vision
        let prefix = "vision_model"
        return VisionTower(
            imageSize: config.imageSize, patchSize: config.patchSize, channels: config.channels,
            patchEmbedding: try reader.patchProjection(
                "\(prefix).embeddings.patch_embedding.weight", width: tower.width, channels: config.channels,
                patch: config.patchSize),
            classEmbedding: try reader.vector("\(prefix).embeddings.class_embedding", tower.width),
            positions: try reader.tensor("\(prefix).embeddings.position_embedding.weight", [config.visionTokens, tower.width]),
            lnPre: try reader.layerNorm("\(prefix).pre_layrnorm", tower.width),
            transformer: try transformer(reader, "\(prefix).encoder.layers", tower),
            lnPost: try reader.layerNorm("\(prefix).post_layernorm", tower.width),
            projection: try reader.transposedWeight("visual_projection.weight", outputs: config.embedDim, inputs: tower.width))
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
            projection: try reader.transposedWeight("text_projection.weight", outputs: config.embedDim, inputs: tower.width),
            pooling: config.textPooling)
    }

    private static let blockNames = WeightReader.BlockNames(
        ln1: "layer_norm1", ln2: "layer_norm2", outProjection: "self_attn.out_proj", fc1: "mlp.fc1", fc2: "mlp.fc2")

    private static func transformer(_ reader: WeightReader, _ prefix: String, _ tower: CLIPConfig.Tower) throws -> Transformer {
        let w = tower.width
        let layers = try (0..<tower.layers).map { index -> TransformerLayer in
            let p = "\(prefix).\(index)"
            // Stack Q, K, V as output rows, then transpose once: in × [q | k | v].
            let stacked = try ["q", "k", "v"].flatMap { try reader.tensor("\(p).self_attn.\($0)_proj.weight", [w, w]) }
            let qkv = reader.linear(
                weight: transpose(stacked, rows: 3 * w, cols: w),
                bias: try ["q", "k", "v"].flatMap { try reader.vector("\(p).self_attn.\($0)_proj.bias", w) })
            return try reader.block(p, blockNames, tower: tower, qkv: qkv)
        }
        return Transformer(tower: tower, layers: layers)
    }
}
