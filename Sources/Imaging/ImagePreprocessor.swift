import CImageCodecs

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

    /// The (width, height) the resize step produces for a `width` x `height` image. The long
    /// side can be far larger than any image we would allocate (a 16,000,000 x 1 image resizes
    /// to 3,584,000,000 x 224): it is a coordinate system, never materialised (see `plan`).
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        guard resizes else { return (width, height) }
        let short = min(width, height), long = max(width, height)
        // Python's int(size * long / short): a true division in Double, then truncation.
        // Clamped below 2^52 so the conversion cannot trap (only absurd configs get near it).
        let newLong = Int(min(Double(resizeShortestEdge) * Double(long) / Double(short), 0x1p52))
        return width <= height ? (resizeShortestEdge, newLong) : (newLong, resizeShortestEdge)
    }

    /// How one image becomes the model's input, decided from its size alone: where the crop lies
    /// in the resized image and the memory the step takes (known before any pixel exists).
    public struct Plan: Sendable, Equatable {
        /// The size of the image before preprocessing.
        public let width: Int, height: Int
        /// The size Pillow's resize would produce (a coordinate system; never allocated).
        public let resizedWidth: Int, resizedHeight: Int
        /// Top-left of the crop in the resized image; negative where the crop pads.
        public let cropX: Int, cropY: Int
        /// Side of the output (the crop, or the resized image when there is no centre crop).
        public let side: Int
        /// Bytes allocated while preprocessing: the output plus the resampler's workspace.
        public let workingBytes: Int
    }

    /// The plan for a `width` x `height` image; refuses shapes the model cannot take.
    public func plan(width: Int, height: Int) throws(ImageError) -> Plan {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw .unsupportedShape(width: width, height: height, reason: "each side must be 1...\(Int32.max) pixels")
        }
        let size = resizedSize(width: width, height: height)
        guard centerCrops || (size.width == cropSize && size.height == cropSize) else {
            throw .unsupportedShape(
                width: width, height: height,
                reason: "without centre cropping it must resize to exactly \(cropSize)x\(cropSize), not \(size.width)x\(size.height)")
        }
        // transformers: top = (h - crop) // 2 with Python's floor division; negative means padding.
        let x = floorHalf(size.width - cropSize), y = floorHalf(size.height - cropSize)
        let window = Self.window(x: x, y: y, crop: cropSize, width: size.width, height: size.height)
        let workspace = rada_resize_crop_workspace(
            Int32(width), Int32(height), Int64(size.width), Int64(size.height), Int64(window.x), Int64(window.y),
            Int32(window.width), Int32(window.height))
        guard workspace >= 0 else {
            throw .unsupportedShape(width: width, height: height, reason: "the resampler refuses a \(size.width)x\(size.height) resize")
        }
        let output = cropSize * cropSize * 3
        // The window's own buffer exists only when padding is needed (see `prepare`).
        let windowBytes = window.width == cropSize && window.height == cropSize ? 0 : window.width * window.height * 3
        return Plan(width: width, height: height, resizedWidth: size.width, resizedHeight: size.height, cropX: x, cropY: y,
                    side: cropSize, workingBytes: output + windowBytes + Int(workspace))
    }

    /// The part of the crop inside the resized image, in resized coordinates.
    private static func window(x: Int, y: Int, crop: Int, width: Int, height: Int) -> (x: Int, y: Int, width: Int, height: Int) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(width, x + crop), y1 = min(height, y + crop)
        return (x0, y0, x1 - x0, y1 - y0)
    }

    /// The model's 8-bit input for `width` x `height` RGB `pixels`: the resize and centre crop
    /// of `resizedAndCropped`, computing only the crop (memory: `plan(...).workingBytes`).
    public func prepare(pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int) throws(ImageError) -> RGBImage {
        let plan = try plan(width: width, height: height)
        precondition(pixels.count == width * height * 3, "\(pixels.count) bytes for a \(width)x\(height) RGB image")
        let window = Self.window(x: plan.cropX, y: plan.cropY, crop: cropSize, width: plan.resizedWidth, height: plan.resizedHeight)
        func resize(into target: UnsafeMutableBufferPointer<UInt8>) -> Int32 {
            rada_resize_crop_bicubic_rgb8(
                pixels.baseAddress, Int32(width), Int32(height), Int64(plan.resizedWidth), Int64(plan.resizedHeight),
                Int64(window.x), Int64(window.y), Int32(window.width), Int32(window.height), target.baseAddress)
        }
        var status: Int32 = 0
        var out = [UInt8](repeating: 0, count: cropSize * cropSize * 3)
        if window.width == cropSize && window.height == cropSize {
            status = out.withUnsafeMutableBufferPointer { resize(into: $0) }
        } else {
            var part = [UInt8](repeating: 0, count: window.width * window.height * 3)
            status = part.withUnsafeMutableBufferPointer { resize(into: $0) }
            let dx = window.x - plan.cropX, dy = window.y - plan.cropY
            for row in 0..<window.height {
                let dst = ((row + dy) * cropSize + dx) * 3, src = row * window.width * 3
                out.replaceSubrange(dst..<(dst + window.width * 3), with: part[src..<(src + window.width * 3)])
            }
        }
        guard status == 0 else { throw .outOfMemory(width: width, height: height) }
        return RGBImage(width: cropSize, height: cropSize, pixels: out)
    }

    /// The 8-bit image after resizing and centre cropping (zero padded where it is smaller than
    /// the crop): the stage where Pillow's rounding has already happened. Traps on shapes that
    /// `plan` refuses; servers call `prepare`, which throws instead.
    public func resizedAndCropped(_ image: RGBImage) -> RGBImage {
        do {
            return try image.pixels.withUnsafeBufferPointer { pixels throws(ImageError) in
                try prepare(pixels: pixels, width: image.width, height: image.height)
            }
        } catch {
            preconditionFailure("\(error)")
        }
    }

    /// CHW Float32 pixel values for one image: `3 * cropSize * cropSize` floats.
    public func pixelValues(_ image: RGBImage) -> [Float] {
        pixelValues(preprocessed: [resizedAndCropped(image)])
    }

    /// Pixel values for a batch, image after image: `count * 3 * cropSize * cropSize` floats.
    public func pixelValues(_ images: [RGBImage]) -> [Float] {
        pixelValues(preprocessed: images.map(resizedAndCropped))
    }

    /// Pixel values of images that are already the model's input (`prepare`'s output,
    /// `cropSize` x `cropSize`): only rescaling and normalisation remain.
    public func pixelValues(preprocessed images: [RGBImage]) -> [Float] {
        var out = [Float](repeating: 0, count: images.count * valuesPerImage)
        out.withUnsafeMutableBufferPointer { buffer in
            for (i, image) in images.enumerated() {
                precondition(image.width == cropSize && image.height == cropSize,
                             "a preprocessed image is \(cropSize)x\(cropSize), got \(image.width)x\(image.height)")
                write(image, into: UnsafeMutableBufferPointer(rebasing: buffer[(i * valuesPerImage)..<((i + 1) * valuesPerImage)]))
            }
        }
        return out
    }

    private func write(_ cropped: RGBImage, into out: UnsafeMutableBufferPointer<Float>) {
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
