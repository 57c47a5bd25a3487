/// Tensor names of an OpenCLIP checkpoint (`open_clip_model.safetensors`). Its projections are
/// stored width × embedDim and applied as `x @ proj`, so they need no transpose.
enum OpenCLIPWeights {
    static func vision(_ reader: WeightReader, _ config: CLIPConfig) throws -> VisionTower {
        let tower = config.vision
        return VisionTower(
            imageSize: config.imageSize, patchSize: config.patchSize, channels: config.channels,
            patchEmbedding: try reader.patchProjection(
                "visual.conv1.weight", width: tower.width, channels: config.channels, patch: config.patchSize),
            classEmbedding: try reader.vector("visual.class_embedding", tower.width),
            positions: try reader.tensor("visual.positional_embedding", [config.visionTokens, tower.width]),
            lnPre: try reader.layerNorm("visual.ln_pre", tower.width),
            transformer: try transformer(reader, "visual.transformer.resblocks", tower),
            lnPost: try reader.layerNorm("visual.ln_post", tower.width),
            projection: try reader.tensor("visual.proj", [tower.width, config.embedDim]))
    }

    static func text(_ reader: WeightReader, _ config: CLIPConfig) throws -> TextTower {
        let tower = config.text
        return TextTower(
            vocabSize: config.vocabSize, contextLength: config.contextLength,
            tokenEmbedding: try reader.tensor("token_embedding.weight", [config.vocabSize, tower.width]),
            positions: try reader.tensor("positional_embedding", [config.contextLength, tower.width]),
            transformer: try transformer(reader, "transformer.resblocks", tower),
            lnFinal: try reader.layerNorm("ln_final", tower.width),
            projection: try reader.tensor("text_projection", [tower.width, config.embedDim]),
            pooling: config.textPooling)
    }

    // One loader per checkpoint layout: the shapes match HuggingFaceWeights' but the names and
    // the Q/K/V stacking differ; what they share (tensor reads, layer norms) is WeightReader's.
    private static let blockNames = WeightReader.BlockNames(
        ln1: "ln_1", ln2: "ln_2", outProjection: "attn.out_proj", fc1: "mlp.c_fc", fc2: "mlp.c_proj")

    private static func transformer(_ reader: WeightReader, _ prefix: String, _ tower: CLIPConfig.Tower) throws -> Transformer {
        let w = tower.width
        let layers = try (0..<tower.layers).map { index -> TransformerLayer in
            let p = "\(prefix).\(index)"
            // Already stacked q, k, v as output rows.
            let qkv = reader.linear(
                weight: try reader.transposedWeight("\(p).attn.in_proj_weight", outputs: 3 * w, inputs: w),
                bias: try reader.vector("\(p).attn.in_proj_bias", 3 * w))
            return try reader.block(p, blockNames, tower: tower, qkv: qkv)
        }
        return Transformer(tower: tower, layers: layers)
    }
}
