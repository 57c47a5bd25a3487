import CImageCodecs
import Imaging
import Foundation
import Testing

/// Preprocessing computes only the model's crop of the resized image. These tests hold it to
/// the bytes of the whole resize followed by the crop (which the Pillow fixtures pin down), and
/// to memory bounds that do not depend on the aspect ratio.
@Suite struct PreprocessorBoundsTests {
    /// Deterministic pixels that vary along both axes.
    static func image(_ width: Int, _ height: Int, seed: Int) -> RGBImage {
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        let pixels = (0..<(width * height * 3)).map { _ -> UInt8 in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state >> 32)
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// transformers' resize-then-crop, done the long way: the whole resized image, then the crop
    /// with `(size - crop) // 2` offsets and zero padding.
    static func reference(_ p: ImagePreprocessor, _ image: RGBImage) -> RGBImage {
        let size = p.resizedSize(width: image.width, height: image.height)
        let resized = image.resizedBicubic(width: size.width, height: size.height)
        func floorHalf(_ n: Int) -> Int { n >= 0 ? n / 2 : -((-n + 1) / 2) }
        let top = floorHalf(resized.height - p.cropSize), left = floorHalf(resized.width - p.cropSize)
        var pixels = [UInt8](repeating: 0, count: p.cropSize * p.cropSize * 3)
        for y in 0..<p.cropSize {
            for x in 0..<p.cropSize {
                let sy = y + top, sx = x + left
                guard sy >= 0, sy < resized.height, sx >= 0, sx < resized.width else { continue }
                for c in 0..<3 { pixels[(y * p.cropSize + x) * 3 + c] = resized.pixels[(sy * resized.width + sx) * 3 + c] }
            }
        }
        return RGBImage(width: p.cropSize, height: p.cropSize, pixels: pixels)
    }

    @Test("the crop-only resize gives the bytes of the whole resize then the crop (both pass orders, padding, unchanged axes)")
    func cropEqualsWholeResize() {
        let configs = [
            ImagePreprocessor(resizeShortestEdge: 24, cropSize: 24, mean: [0, 0, 0], std: [1, 1, 1]),
            ImagePreprocessor(resizeShortestEdge: 20, cropSize: 16, mean: [0, 0, 0], std: [1, 1, 1]),
            ImagePreprocessor(resizeShortestEdge: 12, cropSize: 16, mean: [0, 0, 0], std: [1, 1, 1]),  // pads
        ]
        let sizes = [(1, 1), (24, 24), (50, 37), (37, 50), (3, 97), (97, 3), (200, 41), (41, 200), (24, 90), (90, 24),
                     (17, 300), (300, 17), (64, 65), (1, 40), (40, 1), (23, 25), (25, 23)]
        for (k, p) in configs.enumerated() {
            for (i, (w, h)) in sizes.enumerated() {
                let image = Self.image(w, h, seed: 31 * k + i)
                let fast = p.resizedAndCropped(image)
                let slow = Self.reference(p, image)
                #expect(fast == slow, "config \(k), \(w)x\(h)")
            }
        }
        // Without resizing: the crop is taken from the image itself.
        let raw = ImagePreprocessor(resizeShortestEdge: 8, cropSize: 8, mean: [0, 0, 0], std: [1, 1, 1],
                                    rescaleFactor: 1 / 255, resizes: false, centerCrops: true)
        for (w, h) in [(8, 8), (20, 11), (5, 30), (3, 3)] {
            let image = Self.image(w, h, seed: w * h)
            #expect(raw.resizedAndCropped(image) == Self.reference(raw, image), "\(w)x\(h) unresized")
        }
    }

    @Test("a 16,000,000×1 image plans a 3,584,000,000×224 resize but needs well under a megabyte to preprocess")
    func extremeAspectPlan() throws {
        let p = ImagePreprocessor(resizeShortestEdge: 224, cropSize: 224,
                                  mean: ImagePreprocessor.openAIMean, std: ImagePreprocessor.openAIStd)
        for (w, h) in [(16_000_000, 1), (1, 16_000_000), (1_000_000, 1), (Int(Int32.max), 1)] {
            let plan = try p.plan(width: w, height: h)
            #expect(max(plan.resizedWidth, plan.resizedHeight) == 224 * max(w, h))
            #expect(plan.workingBytes < 1 << 20, "\(w)x\(h): \(plan.workingBytes) bytes")
        }
        // A large ordinary photo: the workspace is a strip of the crop's width, not the image.
        let photo = try p.plan(width: 4000, height: 3000)
        #expect(photo.workingBytes < 4 << 20, "\(photo.workingBytes) bytes")
    }

    @Test("preprocessing a 1,000,000×1 image yields its colour, computed in bounded memory")
    func extremeAspectPixels() throws {
        let p = ImagePreprocessor(resizeShortestEdge: 224, cropSize: 224, mean: [0, 0, 0], std: [1, 1, 1])
        let pixels = [UInt8](repeating: 0, count: 1_000_000 * 3).enumerated().map { UInt8([200, 30, 90][$0.offset % 3]) }
        let crop = try pixels.withUnsafeBufferPointer { buffer throws(ImageError) in
            try p.prepare(pixels: buffer, width: 1_000_000, height: 1)
        }
        #expect(crop.width == 224 && crop.height == 224)
        #expect(stride(from: 0, to: crop.pixels.count, by: 3).allSatisfy { crop.pixels[$0] == 200 && crop.pixels[$0 + 1] == 30 && crop.pixels[$0 + 2] == 90 })
    }

    @Test("shapes the model cannot take are errors, not traps")
    func refusedShapes() {
        let noCrop = ImagePreprocessor(resizeShortestEdge: 16, cropSize: 16, mean: [0, 0, 0], std: [1, 1, 1],
                                       rescaleFactor: 1 / 255, resizes: true, centerCrops: false)
        #expect(throws: ImageError.self) { try noCrop.plan(width: 40, height: 16) }
        #expect((try? noCrop.plan(width: 40, height: 40)) != nil)
        let p = ImagePreprocessor(resizeShortestEdge: 16, cropSize: 16, mean: [0, 0, 0], std: [1, 1, 1])
        #expect(throws: ImageError.self) { try p.plan(width: 0, height: 5) }
        #expect(throws: ImageError.self) { try p.plan(width: Int(Int32.max) + 1, height: 1) }
    }

    @Test("probe reads the size and a decode-memory bound from the header alone")
    func probe() throws {
        let file = try ImageFixture.data("png_rgb.png")
        let image = try ImageDecoder.decode(file)
        let header = try ImageDecoder.probe(file)
        #expect(header.width == image.width && header.height == image.height)
        #expect(header.decodeBytes >= image.width * image.height * 3)
        let jpeg = try ImageFixture.data("jpeg_gray.jpg")
        let jpegHeader = try ImageDecoder.probe(jpeg)
        let jpegImage = try ImageDecoder.decode(jpeg)
        #expect(jpegHeader.width == jpegImage.width && jpegHeader.height == jpegImage.height)
        #expect(jpegHeader.decodeBytes >= jpegImage.pixels.count)
        #expect(throws: ImageError.tooLarge(width: image.width, height: image.height, limit: 10)) {
            try ImageDecoder.probe(file, maxPixels: 10)
        }
        #expect(throws: ImageError.empty) { try ImageDecoder.probe(Data()) }
        #expect(throws: ImageError.unsupportedFormat) { try ImageDecoder.probe(Data("GIF89a".utf8)) }
        #expect(throws: ImageError.self) { try ImageDecoder.probe(file.prefix(20)) }
    }
}
