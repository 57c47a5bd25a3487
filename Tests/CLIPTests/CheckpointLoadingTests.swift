import Foundation
import SafeTensors
import RadaNumerics
import Testing

@testable import CLIP

/// Rewrites a checkpoint's weights through `edit` (name → (shape, values)).
func rewriteWeights(_ url: URL, _ edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void) throws {
    let file = try SafeTensorsFile(url: url)
    var tensors = try file.names.map { (name: $0, shape: file.info($0)!.shape, values: try file.floats($0)) }
    edit(&tensors)
    try SafeTensorsWriter.write(tensors, metadata: file.metadata, dtype: .f16, to: url)
}

@Suite("Loading weights by layout")
struct CheckpointLoadingTests {
    @Test("a missing tensor is named", arguments: [
        ("tiny-clip", "model.safetensors", "vision_model.encoder.layers.1.self_attn.k_proj.bias"),
        ("tiny-clip", "model.safetensors", "text_projection.weight"),
        ("tiny-openclip", "open_clip_model.safetensors", "transformer.resblocks.0.attn.in_proj_weight"),
        ("tiny-openclip", "open_clip_model.safetensors", "logit_scale"),
    ])
    func missingTensor(fixture: String, weights: String, tensor: String) throws {
        let dir = try scratchCopy(of: fixture)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(weights)
        try rewriteWeights(url) { $0.removeAll { $0.name == tensor } }
        #expect(throws: SafeTensorsError.missingTensor(file: url.path, tensor: tensor)) { try CLIPModel.load(from: dir) }
    }

    @Test("a mis-shaped tensor is named with both shapes")
    func misShapedTensor() throws {
        let dir = try scratchCopy(of: "tiny-openclip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("open_clip_model.safetensors")
        // OpenCLIP stores the projection width × embed; the Hugging Face orientation is an error.
        try rewriteWeights(url) { tensors in
            let index = tensors.firstIndex { $0.name == "visual.proj" }!
            tensors[index].shape = [24, 48]
        }
        #expect(throws: SafeTensorsError.shapeMismatch(file: url.path, tensor: "visual.proj", expected: [48, 24], actual: [24, 48])) {
            try CLIPModel.load(from: dir)
        }
    }

    @Test("a config that disagrees with the weights fails on the first tensor it shapes")
    func configWeightMismatch() throws {
        let dir = try scratchCopy(of: "tiny-clip")
        defer { try? FileManager.default.removeItem(at: dir) }
        try editJSON(dir.appendingPathComponent("config.json")) { root in
            var text = root["text_config"] as! [String: Any]
            text["max_position_embeddings"] = 77
            root["text_config"] = text
        }
        #expect(throws: SafeTensorsError.shapeMismatch(
            file: dir.appendingPathComponent("model.safetensors").path,
            tensor: "text_model.embeddings.position_embedding.weight", expected: [77, 32], actual: [16, 32])) {
            try CLIPModel.load(from: dir)
        }
    }

    @Test("rewriting the weights through the writer keeps the model identical")
    func writerRoundTripKeepsModel() throws {
        let dir = try scratchCopy(of: "tiny-clip")
        defer { try? FileManager.default.removeItem(at: dir) }
        try rewriteWeights(dir.appendingPathComponent("model.safetensors")) { $0.reverse() }
        let original = try CLIPModel.load(from: Fixtures.url("tiny-clip"))
        let rewritten = try CLIPModel.load(from: dir)
        let reference = try ReferenceOutputs(directory: Fixtures.url("tiny-clip"))
        #expect(original.embedTexts(reference.texts) == rewritten.embedTexts(reference.texts))
    }
}
