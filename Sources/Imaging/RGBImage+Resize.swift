import CImageCodecs

extension RGBImage {
    /// This image resized to `width` x `height` exactly as Pillow's
    /// `Image.resize((width, height), Image.BICUBIC)` (Pillow 13) does it, bit for bit.
    /// Allocates the whole `width` x `height` result: for the model's input use
    /// `ImagePreprocessor.prepare`, which computes only the crop.
    public func resizedBicubic(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0 && newWidth <= Int(Int32.max) && newHeight <= Int(Int32.max),
                     "cannot resize to \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height { return self }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        let status = pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                rada_resize_bicubic_rgb8(source.baseAddress, Int32(width), Int32(height),
                                         target.baseAddress, Int32(newWidth), Int32(newHeight))
            }
        }
        precondition(status == 0, "out of memory resizing \(width)x\(height) to \(newWidth)x\(newHeight)")
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }
}
