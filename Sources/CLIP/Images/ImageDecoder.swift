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

    /// Decodes `data`. Images whose header declares more than `maxPixels` pixels are refused
    /// with `ImageError.tooLarge` before any pixel memory is allocated.
    public static func decode(_ data: Data, maxPixels: Int = defaultMaxPixels) throws(ImageError) -> RGBImage {
        if data.isEmpty { throw .empty }
        var image = rada_image()
        var message = [CChar](repeating: 0, count: 256)
        let limit = UInt64(max(0, maxPixels))
        let status = data.withUnsafeBytes { raw in
            rada_decode_image(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, limit, &image,
                              &message, message.count)
        }
        defer { rada_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        switch rada_image_status(rawValue: UInt32(bitPattern: status)) {
        case RADA_IMAGE_OK:
            let count = width * height * 3
            let pixels = [UInt8](UnsafeBufferPointer(start: image.pixels, count: count))
            return RGBImage(width: width, height: height, pixels: pixels)
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
