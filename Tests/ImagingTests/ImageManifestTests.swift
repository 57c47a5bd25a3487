import Foundation
import Testing

/// `Tests/Fixtures/images/manifest.json`, written by tools/make_image_fixtures.py.
struct ImageManifest: Decodable, Sendable {
    struct Good: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let width: Int
        let height: Int
        let pil_mode: String
        let rgb: String
        var testDescription: String { "\(file) (Pillow mode \(pil_mode))" }
    }
    struct Bad: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let error: String
        var testDescription: String { "\(file) -> \(error)" }
    }
    struct Preprocess: Decodable, Sendable, CustomTestStringConvertible {
        let config: String
        let image: String
        let values: String
        let shape: [Int]
        let stride: Int
        var testDescription: String { "\(config) on \(image)" }
    }
    struct Resize: Decodable, Sendable, CustomTestStringConvertible {
        let image: String
        let width: Int
        let height: Int
        let rgb: String
        var testDescription: String { "\(image) -> \(width)x\(height)" }
    }
    let images: [Good]
    let bad: [Bad]
    let preprocess: [Preprocess]
    let resize: [Resize]

    static let shared: ImageManifest = {
        do {
            return try JSONDecoder().decode(ImageManifest.self, from: ImageFixture.data("manifest.json"))
        } catch {
            fatalError("Tests/Fixtures/images/manifest.json unreadable (run `make image-fixtures`): \(error)")
        }
    }()
}

enum ImageFixture {
    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: Fixtures.url("images/" + name))
    }

    /// Little-endian float32 file contents.
    static func floats(_ name: String) throws -> [Float] {
        let bytes = try data(name)
        return (0..<(bytes.count / 4)).map { i in
            let b = bytes[bytes.startIndex + 4 * i ..< bytes.startIndex + 4 * i + 4]
            let bits = b.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return Float(bitPattern: bits)
        }
    }
}

@Suite struct ImageManifestTests {
    @Test func manifestCoversEveryCaseTheDecoderMustHandle() {
        let modes = Set(ImageManifest.shared.images.map(\.pil_mode))
        #expect(modes.isSuperset(of: ["L", "I;16", "LA", "P", "RGB", "RGBA", "CMYK"]))
        let errors = Set(ImageManifest.shared.bad.map(\.error))
        #expect(errors == ["empty", "unsupportedFormat", "tooLarge", "corrupt"])
        #expect(ImageManifest.shared.preprocess.count >= 30)
    }

    @Test func fixturesStayUnderOneMegabyte() throws {
        let root = Fixtures.url("images")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.fileSizeKey])!
        var total = 0
        for case let url as URL in files {
            total += try url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0
        }
        #expect(total > 100_000)
        #expect(total <= 1_000_000)
    }
}
