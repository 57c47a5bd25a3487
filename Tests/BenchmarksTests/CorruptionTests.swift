import Foundation
import Testing
@testable import Benchmarks

@Suite struct CorruptionTests {
    static let side = 28

    /// Mean absolute difference (0...255 scale) between two images.
    static func distance(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Double {
        zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.count)
    }

    @Test(arguments: Corruption.allCases)
    func severityZeroIsTheIdentity(_ corruption: Corruption) throws {
        let set = try FixtureManifest.images()
        for i in 0..<3 {
            let out = try corruption.apply(to: set.image(i), width: 28, height: 28, severity: 0, imageIndex: i, seed: 7)
            #expect(out == Array(set.image(i)))
        }
    }

    /// Mean distance from the clean image over the 16 fixture images grows strictly with
    /// severity, and severity 1 already changes the images.
    @Test(arguments: Corruption.allCases)
    func distanceGrowsWithSeverity(_ corruption: Corruption) throws {
        let set = try FixtureManifest.images()
        var means: [Double] = []
        for severity in 0...5 {
            var total = 0.0
            for i in 0..<set.count {
                let out = try corruption.apply(to: set.image(i), width: 28, height: 28, severity: severity, imageIndex: i, seed: 1)
                #expect(out.count == 784)
                total += Self.distance(out, set.image(i))
            }
            means.append(total / Double(set.count))
        }
        #expect(means[0] == 0)
        #expect(means[1] > 0.2, "\(corruption.rawValue): severity 1 changes almost nothing: \(means)")
        for s in 1..<5 {
            #expect(means[s + 1] > means[s], "\(corruption.rawValue): mean distance per severity \(means)")
        }
    }

    @Test(arguments: Corruption.allCases)
    func sameKeyGivesSameBytesAndSeedMattersOnlyForRandomCorruptions(_ corruption: Corruption) throws {
        let set = try FixtureManifest.images()
        for i in [0, 5] {
            let a = try corruption.apply(to: set.image(i), width: 28, height: 28, severity: 4, imageIndex: i, seed: 11)
            let b = try corruption.apply(to: set.image(i), width: 28, height: 28, severity: 4, imageIndex: i, seed: 11)
            #expect(a == b)
            let otherSeed = try corruption.apply(to: set.image(i), width: 28, height: 28, severity: 4, imageIndex: i, seed: 12)
            let otherIndex = try corruption.apply(to: set.image(i), width: 28, height: 28, severity: 4, imageIndex: i + 100, seed: 11)
            #expect((a != otherSeed) == corruption.isRandom, "\(corruption.rawValue) seed dependence")
            #expect((a != otherIndex) == corruption.isRandom, "\(corruption.rawValue) index dependence")
        }
    }

    @Test func badArgumentsAreRefused() throws {
        let image = [UInt8](repeating: 0, count: 784)
        #expect(throws: CorruptionError.badSeverity(6)) {
            try Corruption.fog.apply(to: image, width: 28, height: 28, severity: 6, imageIndex: 0, seed: 0)
        }
        #expect(throws: CorruptionError.self) {
            try Corruption.fog.apply(to: image, width: 27, height: 28, severity: 1, imageIndex: 0, seed: 0)
        }
        #expect(throws: CorruptionError.unknownName("snow")) { try Corruption(name: "snow") }
        #expect(try Corruption(name: "canny_edges") == .cannyEdges)
    }

    /// Exact closed forms of the deterministic tone corruptions.
    @Test func brightnessAndContrastFollowTheirFormulas() throws {
        let image: [UInt8] = [0, 51, 102, 255]
        let bright = try Corruption.brightness.apply(to: image, width: 2, height: 2, severity: 5, imageIndex: 0, seed: 0)
        #expect(bright == [77, 128, 179, 255]) // + 0.3·255 = 76.5, clipped at 255
        let flat = try Corruption.contrast.apply(to: image, width: 2, height: 2, severity: 5, imageIndex: 0, seed: 0)
        // mean 102; (x − 102)·0.15 + 102
        #expect(flat == [87, 94, 102, 125])
    }

    @Test func cannyEdgesAtSeverityFiveAreABinarySketch() throws {
        let set = try FixtureManifest.images()
        let out = try Corruption.cannyEdges.apply(to: set.image(1), width: 28, height: 28, severity: 5, imageIndex: 1, seed: 0)
        #expect(out.allSatisfy { $0 == 0 || $0 == 255 })
        let edgePixels = out.filter { $0 == 255 }.count
        #expect(edgePixels > 20 && edgePixels < 400, "edge pixels: \(edgePixels)")
    }

    @Test func jpegCompressionMatchesAnIndependentLibjpegRoundTrip() throws {
        let set = try FixtureManifest.images()
        let clean = Array(set.image(2))
        let viaCorruption = try Corruption.jpegCompression.apply(to: clean, width: 28, height: 28, severity: 5, imageIndex: 2, seed: 0)
        let file = try GrayCodec.jpeg(clean, width: 28, height: 28, quality: 40)
        #expect(Array(file.prefix(3)) == [0xFF, 0xD8, 0xFF]) // a real JPEG stream
        #expect(try GrayCodec.decodeGray(file).pixels == viaCorruption)
        #expect(viaCorruption != clean)
    }

    @Test func pngRoundTripIsExact() throws {
        let set = try FixtureManifest.images()
        let clean = Array(set.image(4))
        let file = try GrayCodec.png(clean, width: 28, height: 28)
        #expect(Array(file.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        let decoded = try GrayCodec.decodeGray(file)
        #expect(decoded.width == 28 && decoded.height == 28 && decoded.pixels == clean)
        #expect(throws: CorruptionError.self) { try GrayCodec.png([1, 2, 3], width: 2, height: 2) }
    }

    /// `rada corrupt`'s writer: an ImageFolder tree whose PNGs decode to exactly the bytes the
    /// benchmark streams.
    @Test func corruptedSplitIsWrittenAsAnImageFolderWithTheSameBytes() throws {
        let set = try FixtureManifest.images()
        let out = try temporaryDirectory("corrupt")
        defer { try? FileManager.default.removeItem(at: out) }
        let written = try CorruptedSplitWriter.write(set, corruptions: [.fog, .rotate], severity: 3, seed: 8, limit: 6, to: out)
        #expect(written == 12)
        let folder = try ImageFolder(root: out.appendingPathComponent("rotate"))
        // The first six labels are 9, 2, 1, 1, 6, 1: only those classes get folders.
        #expect(folder.classNames == ["Ankle boot", "Pullover", "Shirt", "Trouser"])
        #expect(folder.files.map(\.lastPathComponent) == ["00000.png", "00001.png", "00004.png", "00002.png", "00003.png", "00005.png"])
        for file in folder.files {
            let index = Int(file.deletingPathExtension().lastPathComponent)!
            let expected = try Corruption.rotate.apply(to: set.image(index), width: 28, height: 28, severity: 3, imageIndex: index, seed: 8)
            #expect(try GrayCodec.decodeGray(Array(Data(contentsOf: file))).pixels == expected)
        }
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("fog/Ankle_boot/00000.png").path))
    }

    @Test func streamItemsResolveToTheirCorruptedPixels() throws {
        let set = try FixtureManifest.images()
        let item = StreamItem(index: 3, corruption: .motionBlur, severity: 5)
        let expected = try Corruption.motionBlur.apply(to: set.image(3), width: 28, height: 28, severity: 5, imageIndex: 3, seed: 4)
        #expect(try set.pixels(of: item, corruptionSeed: 4) == expected)
        #expect(try set.pixels(of: StreamItem(index: 3), corruptionSeed: 4) == Array(set.image(3)))
        let rgb = try set.rgbImage(of: item, corruptionSeed: 4)
        #expect(rgb.width == 28 && rgb.height == 28)
        let reds = stride(from: 0, to: rgb.pixels.count, by: 3).map { rgb.pixels[$0] }
        let blues = stride(from: 2, to: rgb.pixels.count, by: 3).map { rgb.pixels[$0] }
        #expect(reds == expected)
        #expect(blues == expected)
        #expect(throws: CorruptionError.self) { try set.pixels(of: StreamItem(index: 16), corruptionSeed: 0) }
    }
}
