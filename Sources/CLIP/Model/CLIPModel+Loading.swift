import Foundation
import SafeTensors

extension CLIPModel {
    /// The files each layout needs in a checkpoint directory.
    static func files(_ layout: CLIPConfig.Layout) -> (config: String, weights: String) {
        switch layout {
        case .huggingFace: ("config.json", "model.safetensors")
        case .openCLIP: ("open_clip_config.json", "open_clip_model.safetensors")
        }
    }

    /// The layout of `directory`: Hugging Face when its config and weights are both present
    /// (it states more, e.g. per-tower activations), else OpenCLIP.
    public static func detectLayout(in directory: URL) throws -> CLIPConfig.Layout {
        for layout in [CLIPConfig.Layout.huggingFace, .openCLIP] {
            let (config, weights) = files(layout)
            let present = [config, weights].allSatisfy {
                FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path)
            }
            if present { return layout }
        }
        throw CheckpointError.noConfig(directory: directory.path)
    }

    /// Loads a checkpoint directory, detecting its layout unless one is given. `precision` is
    /// the arithmetic of the projections (fp32 unless asked); `fp32` where fp32 products run
    /// (default: `FP32Kernel.resolve()`, the packed kernel on AVX-512 or AVX2 CPUs).
    public static func load(
        from directory: URL, layout: CLIPConfig.Layout? = nil, precision: TowerPrecision = .float32,
        fp32: FP32Kernel? = nil
    ) throws -> CLIPModel {
        try precision.checkSupported()
        let fp32 = try fp32 ?? FP32Kernel.resolve().kernel
        if case .packed(let kernel) = fp32, !kernel.isAvailable { throw CheckpointError.fp32KernelUnavailable("\(kernel)") }
        let layout = try layout ?? detectLayout(in: directory)
        let (configName, weightsName) = files(layout)
        let configURL = directory.appendingPathComponent(configName)
        var config: CLIPConfig
        switch layout {
        case .huggingFace:
            config = try .huggingFace(
                configURL: configURL, preprocessorURL: directory.appendingPathComponent("preprocessor_config.json"))
        case .openCLIP:
            config = try .openCLIP(configURL: configURL)
        }
        let reader = WeightReader(
            file: try SafeTensorsFile(url: directory.appendingPathComponent(weightsName)), precision: precision, fp32: fp32)
        config.logitScale = Foundation.exp(try reader.scalar("logit_scale"))
        switch layout {
        case .huggingFace:
            return CLIPModel(
                config: config, vision: try HuggingFaceWeights.vision(reader, config),
                text: try HuggingFaceWeights.text(reader, config))
        case .openCLIP:
            return CLIPModel(
                config: config, vision: try OpenCLIPWeights.vision(reader, config),
                text: try OpenCLIPWeights.text(reader, config))
        }
    }
}
