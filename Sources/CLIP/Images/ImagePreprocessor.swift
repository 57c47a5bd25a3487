/// CLIP's image preprocessing, bit-compatible with Hugging Face `CLIPImageProcessor`
/// (transformers 4.49 on Pillow 13):
///  1. resize so the shorter side is `resizeShortestEdge`, the longer side
///     `Int(Double(edge) * Double(long) / Double(short))` (truncated, as transformers'
///     `get_resize_output_image_size`), with Pillow's bicubic on the 8-bit image;
///  2. centre crop to `cropSize` x `cropSize` from offset `(size - crop) // 2` (floor
///     division), padding with zeros where the image is smaller than the crop;
///  3. `Float(Double(value) * rescaleFactor)`, then `(x - mean) / std` in Float, per channel.
/// Output is channel-major (CHW) Float32, `3 * cropSize * cropSize` values per image.
public struct ImagePreprocessor: Sendable, Equatable {
    /// Target length of the shorter side after resizing.
    public var resizeShortestEdge: Int
    /// Side of the square centre crop.
    public var cropSize: Int
    /// Per-channel (RGB) mean subtracted after rescaling.
    public var mean: [Float]
    /// Per-channel (RGB) standard deviation divided by after subtracting the mean.
    public var std: [Float]
    /// Factor taking 8-bit values to the model's range (transformers' `rescale_factor`).
    public var rescaleFactor: Double
    /// When false the image keeps its size (transformers' `do_resize: false`).
    public var resizes: Bool
    /// When false no crop is taken (transformers' `do_center_crop: false`); then every image
    /// must already be `cropSize` x `cropSize` after resizing.
    public var centerCrops: Bool

    /// OpenAI CLIP's normalisation constants (transformers' `OPENAI_CLIP_MEAN` / `_STD`).
    public static let openAIMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    public init(resizeShortestEdge: Int, cropSize: Int, mean: [Float], std: [Float]) {
        self.init(resizeShortestEdge: resizeShortestEdge, cropSize: cropSize, mean: mean, std: std,
                  rescaleFactor: 1.0 / 255.0, resizes: true, centerCrops: true)
    }

    public init(resizeShortestEdge: Int, cropSize: Int, mean: [Float], std: [Float],
                rescaleFactor: Double, resizes: Bool, centerCrops: Bool) {
        precondition(resizeShortestEdge > 0, "resizeShortestEdge must be positive, got \(resizeShortestEdge)")
        precondition(cropSize > 0, "cropSize must be positive, got \(cropSize)")
        precondition(mean.count == 3 && std.count == 3,
                     "mean and std need one value per RGB channel, got \(mean.count) and \(std.count)")
        self.resizeShortestEdge = resizeShortestEdge
        self.cropSize = cropSize
        self.mean = mean
        self.std = std
        self.rescaleFactor = rescaleFactor
        self.resizes = resizes
        self.centerCrops = centerCrops
    }

    /// Number of floats one image becomes.
    public var valuesPerImage: Int { 3 * cropSize * cropSize }

    /// The (width, height) the resize step produces for a `width` x `height` image.
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        guard resizes else { return (width, height) }
        let short = min(width, height), long = max(width, height)
        // Python's int(size * long / short): a true division in Double, then truncation.
        let newLong = Int(Double(resizeShortestEdge) * Double(long) / Double(short))
        return width <= height ? (resizeShortestEdge, newLong) : (newLong, resizeShortestEdge)
    }

    /// The 8-bit image after resizing and centre cropping (zero padded where it is smaller than
    /// the crop): the stage where Pillow's rounding has already happened.
    public func resizedAndCropped(_ image: RGBImage) -> RGBImage {
        let size = resizedSize(width: image.width, height: image.height)
        let resized = image.resizedBicubic(width: size.width, height: size.height)
        guard centerCrops else {
            precondition(resized.width == cropSize && resized.height == cropSize,
                         "without centre crop the resized image must be \(cropSize)x\(cropSize), got \(resized.width)x\(resized.height)")
            return resized
        }
        if resized.width == cropSize && resized.height == cropSize { return resized }
        // transformers: top = (h - crop) // 2 with Python's floor division; negative means padding.
        let top = floorHalf(resized.height - cropSize), left = floorHalf(resized.width - cropSize)
        var pixels = [UInt8](repeating: 0, count: cropSize * cropSize * 3)
        for y in 0..<cropSize {
            let sy = y + top
            guard sy >= 0 && sy < resized.height else { continue }
            let x0 = max(0, -left), x1 = min(cropSize, resized.width - left)
            guard x0 < x1 else { continue }
            let src = (sy * resized.width + x0 + left) * 3
            let dst = (y * cropSize + x0) * 3
            pixels.replaceSubrange(dst..<(dst + (x1 - x0) * 3),
                                   with: resized.pixels[src..<(src + (x1 - x0) * 3)])
        }
        return RGBImage(width: cropSize, height: cropSize, pixels: pixels)
    }

    /// CHW Float32 pixel values for one image: `3 * cropSize * cropSize` floats.
    public func pixelValues(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: valuesPerImage)
        out.withUnsafeMutableBufferPointer { write(image, into: $0) }
        return out
    }

    /// Pixel values for a batch, image after image: `count * 3 * cropSize * cropSize` floats.
    public func pixelValues(_ images: [RGBImage]) -> [Float] {
        var out = [Float](repeating: 0, count: images.count * valuesPerImage)
        out.withUnsafeMutableBufferPointer { buffer in
            for (i, image) in images.enumerated() {
                write(image, into: UnsafeMutableBufferPointer(rebasing: buffer[(i * valuesPerImage)..<((i + 1) * valuesPerImage)]))
            }
        }
        return out
    }

    private func write(_ image: RGBImage, into out: UnsafeMutableBufferPointer<Float>) {
        let cropped = resizedAndCropped(image)
        let plane = cropSize * cropSize
        // One table per channel: 256 possible inputs, each computed with transformers' exact
        // arithmetic (float64 rescale, cast to float32, float32 normalise).
        for channel in 0..<3 {
            let table = (0..<256).map { value -> Float in
                let scaled = Float(Double(value) * rescaleFactor)
                return (scaled - mean[channel]) / std[channel]
            }
            cropped.pixels.withUnsafeBufferPointer { pixels in
                for i in 0..<plane {
                    out[channel * plane + i] = table[Int(pixels[i * 3 + channel])]
                }
            }
        }
    }
}

/// Python's `n // 2` (rounds toward negative infinity).
private func floorHalf(_ n: Int) -> Int { n >= 0 ? n / 2 : -((-n + 1) / 2) }
