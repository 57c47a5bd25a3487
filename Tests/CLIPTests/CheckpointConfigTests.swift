import Foundation
import SafeTensors
import RadaNumerics
import Testing

@testable import CLIP

/// Copies a committed checkpoint into a scratch directory so a test can alter it.
func scratchCopy(of fixture: String) throws -> URL {
    let dir = try scratchDirectory()
    let source = Fixtures.url(fixture)
    for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
        try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
    }
    return dir
}

/// Rewrites a JSON file through `edit`.
func editJSON(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
    var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    edit(&object)
    try JSONSerialization.data(withJSONObject: object).write(to: url)
}

/// A fresh scratch directory per test, removed by the caller.
func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("CLIP configs read from the checkpoint's own files")
struct CheckpointConfigTests {
    @Test("Hugging Face: per-tower activation, eps and sizes, pooling, preprocessing, logit scale")
    func huggingFace() throws {
        let directory = Fixtures.url("tiny-clip")
        #expect(try CLIPModel.detectLayout(in: directory) == .huggingFace)
        let model = try CLIPModel.load(from: directory)
        let config = model.config
        #expect(config.layout == .huggingFace)
        #expect(config.vision == CLIPConfig.Tower(width: 48, layers: 2, heads: 4, mlpWidth: 120, activation: .quickGelu, layerNormEps: 1e-6))
        #expect(config.text == CLIPConfig.Tower(width: 32, layers: 2, heads: 2, mlpWidth: 72, activation: .gelu, layerNormEps: 1e-2))
        #expect(config.imageSize == 32 && config.patchSize == 8 && config.channels == 3)
        #expect(config.gridSize == 4 && config.visionTokens == 17)
        #expect(config.contextLength == 16 && config.vocabSize == 1000 && config.embedDim == 24)
        #expect(config.textPooling == .firstOccurrence(of: 999))
        #expect(config.imageMean == [0.5, 0.4, 0.3] && config.imageStd == [0.2, 0.25, 0.3])
        let stored = try SafeTensorsFile(url: directory.appendingPathComponent("model.safetensors")).floats("logit_scale")[0]
        #expect(model.logitScale == Foundation.exp(stored))
        #expect(abs(model.logitScale - 1 / 0.07) > 0.01)  // the trained value, not the init value
    }

    @Test("OpenCLIP: one activation flag, norm_kwargs eps, head_width, mlp_ratio, argmax pooling")
    func openCLIP() throws {
        let directory = Fixtures.url("tiny-openclip")
        #expect(try CLIPModel.detectLayout(in: directory) == .openCLIP)
        let config = try CLIPModel.load(from: directory).config
        #expect(config.layout == .openCLIP)
        #expect(config.vision == CLIPConfig.Tower(width: 48, layers: 2, heads: 4, mlpWidth: 120, activation: .gelu, layerNormEps: 1e-6))
        #expect(config.text == CLIPConfig.Tower(width: 32, layers: 2, heads: 2, mlpWidth: 72, activation: .gelu, layerNormEps: 1e-2))
        #expect(config.textPooling == .argmaxTokenId)
        #expect(config.contextLength == 16 && config.vocabSize == 1000 && config.embedDim == 24)
        #expect(config.imageMean == [0.5, 0.4, 0.3] && config.imageStd == [0.2, 0.25, 0.3])
    }

    @Test("defaults: OpenAI statistics without preprocessor_config.json, 1e-5 eps, quick_gelu flag")
    func defaults() throws {
        let hf = try scratchCopy(of: "tiny-clip")
        defer { try? FileManager.default.removeItem(at: hf) }
        try FileManager.default.removeItem(at: hf.appendingPathComponent("preprocessor_config.json"))
        try editJSON(hf.appendingPathComponent("config.json")) { root in
            var text = root["text_config"] as! [String: Any]
            text["eos_token_id"] = 2  // legacy configs pool at the argmax of the ids
            text["layer_norm_eps"] = nil
            root["text_config"] = text
        }
        let config = try CLIPModel.load(from: hf).config
        #expect(config.imageMean == CLIPConfig.openAIMean && config.imageStd == CLIPConfig.openAIStd)
        #expect(config.textPooling == .argmaxTokenId)
        #expect(config.text.layerNormEps == 1e-5)

        let oc = try scratchCopy(of: "tiny-openclip")
        defer { try? FileManager.default.removeItem(at: oc) }
        try editJSON(oc.appendingPathComponent("open_clip_config.json")) { root in
            var model = root["model_cfg"] as! [String: Any]
            model["quick_gelu"] = true
            var vision = model["vision_cfg"] as! [String: Any]
            vision["norm_kwargs"] = nil
            model["vision_cfg"] = vision
            root["model_cfg"] = model
            root["preprocess_cfg"] = nil
        }
        let ocConfig = try CLIPModel.load(from: oc).config
        #expect(ocConfig.vision.activation == .quickGelu && ocConfig.text.activation == .quickGelu)
        #expect(ocConfig.vision.layerNormEps == 1e-5 && ocConfig.text.layerNormEps == 1e-2)
        #expect(ocConfig.imageMean == CLIPConfig.openAIMean)
    }

    @Test("legacy text_config_dict / vision_config_dict take precedence, as in transformers")
    func legacyConfigDicts() throws {
        let hf = try scratchCopy(of: "tiny-clip")
        defer { try? FileManager.default.removeItem(at: hf) }
        try editJSON(hf.appendingPathComponent("config.json")) { root in
            root["text_config_dict"] = root["text_config"]
            root["vision_config_dict"] = root["vision_config"]
            root["text_config"] = ["hidden_size": 999, "hidden_act": "relu"]
            root["vision_config"] = ["hidden_size": 999]
        }
        let config = try CLIPModel.load(from: hf).config
        #expect(config.text.width == 32 && config.text.activation == .gelu)
        #expect(config.vision.width == 48 && config.vision.activation == .quickGelu)
    }

    @Test("unsupported or invalid settings are refused by key")
    func refusals() throws {
        let hf = try scratchCopy(of: "tiny-clip")
        defer { try? FileManager.default.removeItem(at: hf) }
        let configURL = hf.appendingPathComponent("config.json")
        try editJSON(configURL) { root in
            var vision = root["vision_config"] as! [String: Any]
            vision["hidden_act"] = "relu"
            root["vision_config"] = vision
        }
        #expect(throws: CheckpointError.unsupportedConfig(
            file: configURL.path, key: "vision_config.hidden_act", reason: "'relu'; supported: quick_gelu, gelu")) {
            try CLIPModel.load(from: hf)
        }
        try editJSON(configURL) { root in
            var vision = root["vision_config"] as! [String: Any]
            vision["hidden_act"] = "gelu"
            vision["patch_size"] = 7
            root["vision_config"] = vision
        }
        #expect(throws: CheckpointError.invalidConfig(
            file: configURL.path, key: "vision_config.patch_size", reason: "(7) must divide image_size (32)")) {
            try CLIPModel.load(from: hf)
        }

        let oc = try scratchCopy(of: "tiny-openclip")
        defer { try? FileManager.default.removeItem(at: oc) }
        let ocURL = oc.appendingPathComponent("open_clip_config.json")
        try editJSON(ocURL) { root in
            var model = root["model_cfg"] as! [String: Any]
            var text = model["text_cfg"] as! [String: Any]
            text["no_causal_mask"] = true
            model["text_cfg"] = text
            root["model_cfg"] = model
        }
        #expect(throws: CheckpointError.unsupportedConfig(
            file: ocURL.path, key: "model_cfg.text_cfg.no_causal_mask", reason: "must be false for a plain ViT CLIP")) {
            try CLIPModel.load(from: oc)
        }

        let empty = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: CheckpointError.noConfig(directory: empty.path)) { try CLIPModel.load(from: empty) }
    }
}
