import Imaging
import Foundation
import Testing

@Suite struct ImageDecoderTests {
    /// PNG and JPEG alike must equal Pillow's `convert("RGB")` exactly (tolerance 0). For JPEG
    /// this holds because the system libjpeg-turbo 2.1 and Pillow's bundled 3.2 use the same
    /// islow IDCT and fancy upsampling; a decoder change would show up here.
    @Test(arguments: ImageManifest.shared.images)
    func decodesLikePillow(_ entry: ImageManifest.Good) throws {
        let image = try ImageDecoder.decode(ImageFixture.data(entry.file))
        #expect(image.width == entry.width)
        #expect(image.height == entry.height)
        let expected = try [UInt8](ImageFixture.data(entry.rgb))
        #expect(image.pixels.count == expected.count)
        let differing = zip(image.pixels, expected).filter { $0 != $1 }.count
        let maxDiff = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(differing == 0, "\(differing) bytes differ, max difference \(maxDiff)")
    }

    @Test(arguments: ImageManifest.shared.bad)
    func rejectsBadFileWithTheRightError(_ entry: ImageManifest.Bad) throws {
        let data = try ImageFixture.data(entry.file)
        do {
            let image = try ImageDecoder.decode(data)
            Issue.record("decoded \(image.width)x\(image.height) from \(entry.file)")
        } catch {
            switch (error, entry.error) {
            case (.empty, "empty"), (.unsupportedFormat, "unsupportedFormat"), (.tooLarge, "tooLarge"):
                break
            case let (.corrupt(message), "corrupt"):
                #expect(!message.isEmpty)
            default:
                Issue.record("\(entry.file): got \(error), expected \(entry.error)")
            }
        }
    }

    @Test func hugeHeadersAreRefusedBeforeAllocation() throws {
        for (file, side) in [("bad_huge.png", 50_000), ("bad_huge.jpg", 65_000)] {
            let data = try ImageFixture.data(file)
            let clock = ContinuousClock()
            var thrown: ImageError?
            let elapsed = clock.measure {
                do { _ = try ImageDecoder.decode(data) } catch { thrown = error as? ImageError }
            }
            #expect(thrown == .tooLarge(width: side, height: side, limit: ImageDecoder.defaultMaxPixels))
            // 7.5 GB (PNG) / 12.7 GB (JPEG) of RGB would take far longer than this to allocate
            // and fill (seconds); the refusal comes straight from the header. The bound leaves room
            // for this thread to be preempted by the other suites on a 2-core machine.
            #expect(elapsed < .seconds(1), "took \(elapsed)")
        }
    }

    @Test func pixelLimitIsInclusive() throws {
        let data = try ImageFixture.data("png_rgb.png") // 47 x 33 = 1551 pixels
        #expect(try ImageDecoder.decode(data, maxPixels: 1551).pixels.count == 1551 * 3)
        #expect(throws: ImageError.tooLarge(width: 47, height: 33, limit: 1550)) {
            try ImageDecoder.decode(data, maxPixels: 1550)
        }
        let jpeg = try ImageFixture.data("jpeg_rgb.jpg") // 64 x 48 = 3072 pixels
        #expect(throws: ImageError.tooLarge(width: 64, height: 48, limit: 3071)) {
            try ImageDecoder.decode(jpeg, maxPixels: 3071)
        }
    }

    @Test func onePixelImagesDecode() throws {
        let png = try ImageDecoder.decode(ImageFixture.data("png_1x1.png"))
        #expect(png == RGBImage(width: 1, height: 1, pixels: [200, 30, 90]))
        let jpeg = try ImageDecoder.decode(ImageFixture.data("jpeg_1x1.jpg"))
        #expect(jpeg.width == 1 && jpeg.height == 1)
        // JPEG is lossy: (10, 200, 120) comes back within a few levels.
        let expected: [Int] = [10, 200, 120]
        #expect(zip(jpeg.pixels, expected).allSatisfy { abs(Int($0) - $1) <= 4 })
    }

    @Test func otherFormatsAreUnsupported() {
        for bytes in [Array("GIF89a\u{1}\u{0}".utf8), [0x42, 0x4D, 0, 0], [0x89, 0x50, 0x4E], [0xFF, 0xD8]] {
            #expect(throws: ImageError.unsupportedFormat) { try ImageDecoder.decode(Data(bytes)) }
        }
        #expect(throws: ImageError.empty) { try ImageDecoder.decode(Data()) }
    }

    /// Every prefix (in steps) and a sweep of single-byte corruptions of a PNG, an interlaced
    /// PNG, a baseline and a progressive JPEG: each must decode or throw an ImageError, never
    /// crash, and a decoded image must have the original size.
    @Test(arguments: ["png_rgb.png", "png_interlaced_rgb.png", "jpeg_rgb.jpg", "jpeg_progressive.jpg", "jpeg_cmyk.jpg"])
    func damagedFilesNeverCrash(_ file: String) throws {
        let original = try [UInt8](ImageFixture.data(file))
        var decoded = 0, rejected = 0
        func attempt(_ bytes: [UInt8]) {
            do {
                let image = try ImageDecoder.decode(Data(bytes), maxPixels: 1_000_000)
                #expect(image.pixels.count == image.width * image.height * 3)
                decoded += 1
            } catch {
                rejected += 1
            }
        }
        for length in stride(from: 0, to: original.count, by: 7) { attempt(Array(original[..<length])) }
        for position in stride(from: 2, to: original.count, by: 5) {
            var bytes = original
            bytes[position] ^= 0x5A
            attempt(bytes)
        }
        #expect(rejected > 0)
        #expect(decoded + rejected == (original.count + 6) / 7 + (original.count - 2 + 4) / 5)
    }

    @Test func errorMessagesNameTheLimit() {
        let message = ImageError.tooLarge(width: 50_000, height: 50_000, limit: 40_000_000).description
        #expect(message.contains("50000x50000"))
        #expect(message.contains("40000000"))
        #expect(ImageError.corrupt("corrupt PNG: IDAT: bad").description.contains("IDAT"))
    }
}
