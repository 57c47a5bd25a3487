/// A labelled set of equally sized 8-bit grayscale images (Fashion-MNIST's form), stored
/// contiguously: image `i` is `pixels[i*width*height ..< (i+1)*width*height]`, row-major.
public struct GrayImageSet: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]
    /// Class index per image, in 0..<classNames.count.
    public let labels: [Int]
    public let classNames: [String]

    public var count: Int { labels.count }
    public var pixelsPerImage: Int { width * height }

    public init(width: Int, height: Int, pixels: [UInt8], labels: [Int], classNames: [String]) throws(DatasetError) {
        guard width > 0, height > 0 else { throw .mismatch("image size \(width)×\(height) must be positive") }
        guard pixels.count == width * height * labels.count else {
            throw .mismatch("\(pixels.count) pixel bytes for \(labels.count) images of \(width)×\(height)")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classNames.count }) {
            throw .mismatch("label \(bad) outside the \(classNames.count) classes")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// The pixels of image `index`.
    public func image(_ index: Int) -> ArraySlice<UInt8> {
        pixels[(index * pixelsPerImage)..<((index + 1) * pixelsPerImage)]
    }
}
