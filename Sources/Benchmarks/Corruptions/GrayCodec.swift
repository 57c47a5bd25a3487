import CImageCodecs

/// PNG / JPEG encoding of 8-bit grayscale images through the C codecs (libpng, libjpeg), and the
/// JPEG round trip the jpeg_compression corruption needs.
public enum GrayCodec {
    /// A PNG file holding the image.
    public static func png(_ pixels: [UInt8], width: Int, height: Int) throws(CorruptionError) -> [UInt8] {
        try encode(pixels, width: width, height: height) { buffer, err, length in
            rada_encode_png(pixels, UInt32(width), UInt32(height), 1, buffer, err, length)
        }
    }

    /// A baseline JPEG file holding the image at `quality` (1...100).
    public static func jpeg(_ pixels: [UInt8], width: Int, height: Int, quality: Int) throws(CorruptionError) -> [UInt8] {
        try encode(pixels, width: width, height: height) { buffer, err, length in
            rada_encode_jpeg(pixels, UInt32(width), UInt32(height), 1, Int32(quality), buffer, err, length)
        }
    }

    /// Decodes a PNG or JPEG holding a grayscale image back to one byte per pixel (the decoder
    /// gives RGB with gray replicated; the first channel is taken).
    public static func decodeGray(_ file: [UInt8]) throws(CorruptionError) -> (pixels: [UInt8], width: Int, height: Int) {
        var image = rada_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = rada_decode_image(file, file.count, 1 << 26, &image, &message, message.count)
        defer { rada_image_free(&image) }
        guard status == Int32(RADA_IMAGE_OK.rawValue), let rgb = image.pixels else { throw .codec(text(message)) }
        let count = Int(image.width) * Int(image.height)
        let pixels = (0..<count).map { rgb[3 * $0] }
        return (pixels, Int(image.width), Int(image.height))
    }

    private static func encode(
        _ pixels: [UInt8], width: Int, height: Int,
        _ call: (UnsafeMutablePointer<rada_buffer>, UnsafeMutablePointer<CChar>, Int) -> Int32
    ) throws(CorruptionError) -> [UInt8] {
        guard width > 0, height > 0, pixels.count == width * height else {
            throw .badImage("\(pixels.count) pixels for a \(width)×\(height) image")
        }
        var buffer = rada_buffer()
        var message = [CChar](repeating: 0, count: 256)
        let status = call(&buffer, &message, message.count)
        defer { rada_buffer_free(&buffer) }
        guard status == Int32(RADA_IMAGE_OK.rawValue), let bytes = buffer.bytes else { throw .codec(text(message)) }
        return Array(UnsafeBufferPointer(start: bytes, count: buffer.length))
    }

    private static func text(_ message: [CChar]) -> String {
        String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Corruption {
    /// JPEG: a real libjpeg encode at quality q, then decode. q per severity: CIFAR-10-C's
    /// [80, 65, 58, 50, 40] (ImageNet-C: [25, 18, 15, 10, 7]); a codec setting, kept. libjpeg is
    /// deterministic for a given version, so the result depends only on the image.
    static let jpegQuality: [Int] = [80, 65, 58, 50, 40]

    static func jpegCompressed(_ pixels: [UInt8], width: Int, height: Int, level: Int) throws(CorruptionError) -> [UInt8] {
        let file = try GrayCodec.jpeg(pixels, width: width, height: height, quality: jpegQuality[level])
        let decoded = try GrayCodec.decodeGray(file)
        guard decoded.width == width, decoded.height == height else {
            throw .codec("the JPEG came back as \(decoded.width)×\(decoded.height), not \(width)×\(height)")
        }
        return decoded.pixels
    }
}
