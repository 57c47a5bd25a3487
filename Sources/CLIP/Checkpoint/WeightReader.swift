import SafeTensors
/// Reads named tensors with the shapes the model expects and lays them out as its GEMMs want.
struct WeightReader {
    let file: SafeTensorsFile
    /// The precision the transformer blocks' projections are held in.
    var precision: TowerPrecision = .float32
    /// Where fp32 projections run (in `.float32` precision).
    var fp32: FP32Kernel = .openBLAS

    /// A 1-D tensor of `count` values.
    func vector(_ name: String, _ count: Int) throws -> [Float] {
        try file.floats(name, shape: [count])
    }

    /// A tensor of exactly `shape`, as stored (row-major).
    func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
        try file.floats(name, shape: shape)
    }

    /// A PyTorch `Linear` weight stored outputs × inputs, returned transposed (inputs × outputs).
    func transposedWeight(_ name: String, outputs: Int, inputs: Int) throws -> [Float] {
        transpose(try file.floats(name, shape: [outputs, inputs]), rows: outputs, cols: inputs)
    }

    /// A PyTorch `Linear` (`prefix.weight` outputs × inputs, `prefix.bias`) laid out for `x · W`.
    func linear(_ prefix: String, outputs: Int, inputs: Int) throws -> LinearWeights {
        linear(
            weight: try transposedWeight("\(prefix).weight", outputs: outputs, inputs: inputs),
            bias: try vector("\(prefix).bias", outputs))
    }

    /// A projection (inputs × outputs, row-major) held as this reader's precision and fp32
    /// kernel want it.
    func linear(weight: [Float], bias: [Float]) -> LinearWeights {
        LinearWeights(weight: weight, bias: bias, precision: precision, fp32: fp32)
    }

    /// Names, relative to one block's prefix, of a layout's residual-block tensors.
    struct BlockNames {
        var ln1: String
        var ln2: String
        var outProjection: String
        var fc1: String
        var fc2: String
    }

    /// One residual block; `qkv` is read by the caller because the layouts store it differently.
    func block(_ prefix: String, _ names: BlockNames, tower: CLIPConfig.Tower, qkv: LinearWeights) throws -> TransformerLayer {
        let w = tower.width
        return TransformerLayer(
            ln1: try layerNorm("\(prefix).\(names.ln1)", w),
            qkv: qkv,
            out: try linear("\(prefix).\(names.outProjection)", outputs: w, inputs: w),
            ln2: try layerNorm("\(prefix).\(names.ln2)", w),
            fc1: try linear("\(prefix).\(names.fc1)", outputs: tower.mlpWidth, inputs: w),
            fc2: try linear("\(prefix).\(names.fc2)", outputs: w, inputs: tower.mlpWidth))
    }

    func layerNorm(_ prefix: String, _ width: Int) throws -> LayerNormWeights {
        LayerNormWeights(gamma: try vector("\(prefix).weight", width), beta: try vector("\(prefix).bias", width))
    }

    /// A scalar stored with shape `[]` (PyTorch's 0-d tensor) or `[1]`.
    func scalar(_ name: String) throws -> Float {
        guard let info = file.info(name) else { throw SafeTensorsError.missingTensor(file: file.path, tensor: name) }
        guard info.elementCount == 1, info.shape.count <= 1 else {
            throw SafeTensorsError.shapeMismatch(file: file.path, tensor: name, expected: [], actual: info.shape)
        }
        return try file.floats(name)[0]
    }

    /// The patch convolution weight (width × channels × patch × patch, no bias) as a
    /// (channels · patch · patch) × width projection with a zero bias, in the towers' precision.
    func patchProjection(_ name: String, width: Int, channels: Int, patch: Int) throws -> LinearWeights {
        let weight = try tensor(name, [width, channels, patch, patch])
        return linear(
            weight: transpose(weight, rows: width, cols: channels * patch * patch), bias: [Float](repeating: 0, count: width))
    }
}

/// The transpose of a row-major rows × cols buffer.
func transpose(_ values: [Float], rows: Int, cols: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: values.count) { out, initialised in
        values.withUnsafeBufferPointer { input in
            // Blocked so that both sides stay in cache for the large projection matrices.
            let block = 32
            for r0 in stride(from: 0, to: rows, by: block) {
                for c0 in stride(from: 0, to: cols, by: block) {
                    for r in r0..<min(r0 + block, rows) {
                        for c in c0..<min(c0 + block, cols) { out[c * rows + r] = input[r * cols + c] }
                    }
                }
            }
        }
        initialised = values.count
    }
}
