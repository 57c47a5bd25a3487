import Foundation

/// Why a model checkpoint's JSON config could not be read, or a precision cannot be used.
/// Every case names the file and the key (errors inside the weights file are `SafeTensorsError`s).
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    case unreadable(file: String, reason: String)
    case invalidConfig(file: String, key: String, reason: String)
    case unsupportedConfig(file: String, key: String, reason: String)
    case noConfig(directory: String)
    case unsupportedPrecision(String)
    case precisionUnavailable(String)
    case unsupportedFP32Kernel(String)
    case fp32KernelUnavailable(String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            "cannot read \(file): \(reason)"
        case .invalidConfig(let file, let key, let reason):
            "\(file): '\(key)' \(reason)"
        case .unsupportedConfig(let file, let key, let reason):
            "\(file): '\(key)' is not supported: \(reason)"
        case .noConfig(let directory):
            "\(directory) holds neither config.json + model.safetensors (Hugging Face) nor open_clip_config.json + open_clip_model.safetensors (OpenCLIP)"
        case .unsupportedPrecision(let value):
            "unknown precision '\(value)' (RADA_PRECISION or --precision): use auto, fp32, bf16 or fp16"
        case .precisionUnavailable(let value):
            "precision \(value) needs a CPU with its kernel (bf16: AVX512-BF16 or Intel AMX-BF16; fp16: AVX512-FP16), which this machine lacks: use fp32 or auto"
        case .unsupportedFP32Kernel(let value):
            "unknown fp32 kernel '\(value)' (RADA_FP32_GEMM): use auto, packed or openblas"
        case .fp32KernelUnavailable(let value):
            "the fp32 kernel \(value) needs instructions this CPU lacks: use RADA_FP32_GEMM=auto"
        }
    }
}
