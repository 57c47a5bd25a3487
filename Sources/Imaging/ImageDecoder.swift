import CImageCodecs
import Foundation

/// Decodes PNG and JPEG files to `RGBImage`, giving the same pixels as Pillow's
/// `Image.open(f).convert("RGB")` (the first step of CLIP's reference preprocessing):
/// alpha is dropped, not composited; palettes are expanded ignoring tRNS; 16-bit gray is
/// clipped to 255 (Pillow's I;16 -> RGB) while other 16-bit images keep their high byte;
/// CMYK JPEGs are read as Adobe-inverted CMYK and converted with Pillow's formula.
/// EXIF orientation is not applied (neither Pillow's open nor CLIP's processor applies it).
public enum ImageDecoder {
    /// The default refusal threshold: 40 megapixels, about 120 MB of decoded RGB.
    public static let defaultMaxPixels = 40_000_000

    /// Reads only the header of `data`: its size and a bound on the memory decoding it takes.
    /// Images over `maxPixels` are refused with `ImageError.tooLarge`, as by `decode`.
    public static func probe(_ data: Data, maxPixels: Int = defaultMaxPixels) throws(ImageError) -> ImageHeader {
        if data.isEmpty { throw .empty }
        var info = rada_image_info()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw in
            rada_probe_image(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, limit(maxPixels), &info,
                             &message, message.count)
        }
        try check(status, width: Int(info.width), height: Int(info.height), maxPixels: maxPixels, message: message)
        let bytes = info.decode_bytes > UInt64(Int.max) ? Int.max : Int(info.decode_bytes)
        return ImageHeader(width: Int(info.width), height: Int(info.height), decodeBytes: bytes)
    }

    /// Decodes `data`. Images whose header declares more than `maxPixels` pixels are refused
    /// with `ImageError.tooLarge` before any pixel memory is allocated.
    public static func decode(_ data: Data, maxPixels: Int = defaultMaxPixels) throws(ImageError) -> RGBImage {
        try withPixels(of: data, maxPixels: maxPixels) { pixels, width, height in
            RGBImage(width: width, height: height, pixels: [UInt8](pixels))
        }
    }

    /// Decodes `data` and lends `body` the decoder's own pixel buffer (`width * height * 3`
    /// bytes, valid only during the call): no second copy of a large image is ever made.
    public static func withPixels<T>(
        of data: Data, maxPixels: Int = defaultMaxPixels,
        _ body: (UnsafeBufferPointer<UInt8>, _ width: Int, _ height: Int) throws(ImageError) -> T
    ) throws(ImageError) -> T {
        if data.isEmpty { throw .empty }
        var image = rada_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw in
            rada_decode_image(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, limit(maxPixels), &image,
                              &message, message.count)
        }
        defer { rada_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        try check(status, width: width, height: height, maxPixels: maxPixels, message: message)
        return try body(UnsafeBufferPointer(start: image.pixels, count: width * height * 3), width, height)
    }

    private static func limit(_ maxPixels: Int) -> UInt64 { UInt64(max(0, maxPixels)) }

    private static func check(_ status: Int32, width: Int, height: Int, maxPixels: Int, message: [CChar]) throws(ImageError) {
        switch rada_image_status(rawValue: UInt32(bitPattern: status)) {
        case RADA_IMAGE_OK:
            return
        case RADA_IMAGE_EMPTY:
            throw .empty
        case RADA_IMAGE_UNSUPPORTED:
            throw .unsupportedFormat
        case RADA_IMAGE_TOO_LARGE:
            throw .tooLarge(width: width, height: height, limit: maxPixels)
        case RADA_IMAGE_OUT_OF_MEMORY:
            throw .outOfMemory(width: width, height: height)
        default:
            throw .corrupt(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
}

/// What an image file's header says, read without decoding the pixels.
public struct ImageHeader: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Upper bound of the memory `ImageDecoder.decode` takes for this file, decoded pixels
    /// included (the codecs' row and coefficient buffers are counted; see `rada_probe_image`).
    public let decodeBytes: Int

    public var pixels: Int { width * height }  // both < 2^32: cannot overflow
}
