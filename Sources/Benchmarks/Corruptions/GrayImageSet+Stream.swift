import CLIP
import Imaging

extension GrayImageSet {
    /// The 8-bit pixels a stream item shows: image `item.index` under its corruption and
    /// severity (clean when it has none), keyed by `corruptionSeed`.
    public func pixels(of item: StreamItem, corruptionSeed: UInt64) throws(CorruptionError) -> [UInt8] {
        guard item.index >= 0, item.index < count else { throw .badImage("image \(item.index) is outside the \(count) images") }
        guard let corruption = item.corruption else { return Array(image(item.index)) }
        return try corruption.apply(
            to: image(item.index), width: width, height: height, severity: item.severity, imageIndex: item.index, seed: corruptionSeed)
    }

    /// The same as an RGB image (gray in all three channels, as Pillow's `convert("RGB")` gives),
    /// ready for `ImagePreprocessor`.
    public func rgbImage(of item: StreamItem, corruptionSeed: UInt64) throws(CorruptionError) -> RGBImage {
        let gray = try pixels(of: item, corruptionSeed: corruptionSeed)
        var rgb = [UInt8](repeating: 0, count: gray.count * 3)
        for (i, value) in gray.enumerated() {
            rgb[3 * i] = value
            rgb[3 * i + 1] = value
            rgb[3 * i + 2] = value
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }
}
