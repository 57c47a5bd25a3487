/// Everything about a CLIP checkpoint that is not a weight, read from the checkpoint's own JSON
/// so that any ViT CLIP loads without code changes.
public struct CLIPConfig: Sendable, Equatable {
    /// Which naming scheme the checkpoint uses.
    public enum Layout: String, Sendable {
        /// Hugging Face `CLIPModel`: `config.json` + `model.safetensors`.
        case huggingFace
        /// OpenCLIP: `open_clip_config.json` + `open_clip_model.safetensors`.
        case openCLIP
    }

    /// The MLP non-linearity of one tower.
    public enum Activation: String, Sendable {
        /// `x · sigmoid(1.702 x)`, the original OpenAI CLIP choice.
        case quickGelu = "quick_gelu"
        /// Exact erf GELU.
        case gelu
    }

    /// Which token's final state becomes the text embedding.
    public enum TextPooling: Sendable, Equatable {
        /// The first position holding the largest token id (OpenAI / OpenCLIP, and Hugging Face
        /// configs whose `eos_token_id` is the legacy value 2).
        case argmaxTokenId
        /// The first position holding this token id (position 0 when absent), as Hugging Face does.
        case firstOccurrence(of: Int)
        /// The last token of each text.
        case last
    }

    /// Shape and numerics of one pre-LN transformer tower.
    public struct Tower: Sendable, Equatable {
        public var width: Int
        public var layers: Int
        public var heads: Int
        public var mlpWidth: Int
        public var activation: Activation
        public var layerNormEps: Float

        public init(width: Int, layers: Int, heads: Int, mlpWidth: Int, activation: Activation, layerNormEps: Float) {
            self.width = width
            self.layers = layers
            self.heads = heads
            self.mlpWidth = mlpWidth
            self.activation = activation
            self.layerNormEps = layerNormEps
        }

        public var headWidth: Int { width / heads }
    }

    public var layout: Layout
    public var vision: Tower
    public var text: Tower
    /// Input side in pixels (square images).
    public var imageSize: Int
    public var patchSize: Int
    public var channels: Int
    /// The longest token sequence (with SOT and EOT) the text tower accepts.
    public var contextLength: Int
    public var vocabSize: Int
    /// Width of the joint embedding space.
    public var embedDim: Int
    public var textPooling: TextPooling
    /// The temperature `exp(logit_scale)`: from the checkpoint's `logit_scale` tensor once loaded,
    /// from the JSON's initial value before.
    public var logitScale: Float
    /// Per-channel normalisation the images must receive before `embedImages`.
    public var imageMean: [Float]
    public var imageStd: [Float]

    /// Patches per side.
    public var gridSize: Int { imageSize / patchSize }
    /// Sequence length of the vision tower: one class token plus the patches.
    public var visionTokens: Int { gridSize * gridSize + 1 }

    /// The OpenAI CLIP pixel statistics, used when a checkpoint states none.
    public static let openAIMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIStd: [Float] = [0.26862954, 0.26130258, 0.27577711]
}
