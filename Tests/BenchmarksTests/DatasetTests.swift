import Foundation
import Testing
@testable import Benchmarks

/// The committed fixture: the first 16 Fashion-MNIST test images as gzipped IDX
/// (tools/make_bench_fixtures.py), with the labels and pixel sums the generator recorded.
struct FixtureManifest: Decodable {
    let count: Int
    let rows: Int
    let cols: Int
    let labels: [Int]
    let pixel_sums: [Int]

    static func load() throws -> FixtureManifest {
        try JSONDecoder().decode(FixtureManifest.self, from: Data(contentsOf: Fixtures.url("bench/manifest.json")))
    }

    static func images() throws -> GrayImageSet {
        try FashionMNIST.load(.test, directory: Fixtures.url("bench"))
    }
}

/// A fresh empty directory under the system temporary directory.
func temporaryDirectory(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rada-bench-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// An IDX header for unsigned bytes with the given dimensions.
func idxHeader(_ dimensions: [Int]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
    for d in dimensions { bytes += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    return bytes
}

@Suite struct DatasetTests {
    @Test func fixtureParsesWithTheGeneratorsLabelsAndPixelSums() throws {
        let manifest = try FixtureManifest.load()
        let set = try FixtureManifest.images()
        #expect(set.count == manifest.count)
        #expect(set.width == 28 && set.height == 28)
        #expect(set.labels == manifest.labels)
        #expect((0..<set.count).map { set.image($0).reduce(0) { $0 + Int($1) } } == manifest.pixel_sums)
        #expect(set.classNames == FashionMNIST.classNames)
        #expect(set.classNames[0] == "T-shirt/top" && set.classNames[9] == "Ankle boot")
    }

    @Test func missingDatasetNamesTheDebianPackage() {
        let missing = URL(fileURLWithPath: "/nonexistent/fashion-mnist")
        #expect(throws: DatasetError.missingPackage(path: "/nonexistent/fashion-mnist/t10k-images-idx3-ubyte.gz", package: "dataset-fashion-mnist")) {
            try FashionMNIST.load(.test, directory: missing)
        }
        let message = DatasetError.missingPackage(path: "x", package: FashionMNIST.debianPackage).description
        #expect(message.contains("apt-get install dataset-fashion-mnist"))
    }

    @Test func idxHeaderAndSizeAreValidated() throws {
        let good = Data(idxHeader([2, 3]) + [1, 2, 3, 4, 5, 6])
        let parsed = try IDXFile(good, expectedDimensions: 2)
        #expect(parsed.dimensions == [2, 3])
        #expect(parsed.values == [1, 2, 3, 4, 5, 6])

        func reason(_ bytes: [UInt8], rank: Int = 2) -> String? {
            do {
                _ = try IDXFile(Data(bytes), expectedDimensions: rank)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(reason([0, 0]).map { $0.contains("shorter than the 4-byte magic") } == true)
        #expect(reason([1, 0, 8, 2] + idxHeader([2, 3]).dropFirst(4) + [1, 2, 3, 4, 5, 6]).map { $0.contains("magic number") } == true)
        #expect(reason([0, 0, 0x0D, 2] + idxHeader([2, 3]).dropFirst(4)).map { $0.contains("0x0d") } == true)
        #expect(reason(idxHeader([2, 3]) + [1, 2, 3], rank: 1).map { $0.contains("2 dimensions, expected 1") } == true)
        #expect(reason(Array(idxHeader([2, 3]).prefix(7))).map { $0.contains("truncated header") } == true)
        #expect(reason(idxHeader([2, 3]) + [1, 2, 3, 4, 5]).map { $0.contains("need 6 data bytes, the file has 5") } == true)
        #expect(reason(idxHeader([2, 3]) + [1, 2, 3, 4, 5, 6, 7]).map { $0.contains("1 unexpected bytes") } == true)
    }

    @Test func gzipErrorsAreReported() throws {
        let file = try Data(contentsOf: Fixtures.url("bench/t10k-labels-idx1-ubyte.gz"))
        let inflated = try Gzip.decompress(file)
        #expect(inflated.count == 8 + 16)
        #expect(throws: DatasetError.self) { try Gzip.decompress(file.prefix(file.count - 10)) }
        #expect(throws: DatasetError.self) { try Gzip.decompress(Data(repeating: 7, count: 40)) }
        #expect(throws: DatasetError.self) { try Gzip.decompress(file, maxBytes: 10) }
        do {
            _ = try Gzip.decompress(file.prefix(file.count - 10), path: "labels.gz")
        } catch {
            #expect(error.description.hasPrefix("labels.gz: truncated"))
        }
        // Two concatenated members inflate to both payloads, as gzip(1) reads them.
        #expect(try Gzip.decompress(file + file).count == 2 * (8 + 16))
    }

    @Test func fashionMNISTRefusesMismatchedFiles() throws {
        let directory = try temporaryDirectory("mismatch")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            at: Fixtures.url("bench/t10k-images-idx3-ubyte.gz"), to: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        // 15 labels for 16 images, written uncompressed under the .gz name: must fail as gzip.
        try Data(idxHeader([15]) + [UInt8](repeating: 0, count: 15))
            .write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        #expect(throws: DatasetError.self) { try FashionMNIST.load(.test, directory: directory) }
    }

    @Test func imageFolderSortsClassesAndFilesAndReadsUnderscoresAsSpaces() throws {
        let root = try temporaryDirectory("folder")
        defer { try? FileManager.default.removeItem(at: root) }
        let layout = ["tabby_cat": ["b.png", "a.jpg", "c.JPEG"], "dog": ["z.png", "notes.txt"], "Zebra": ["x.png"]]
        for (folder, files) in layout {
            let dir = root.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (i, file) in files.enumerated() {
                let pixels = [UInt8](repeating: UInt8(40 * i + 10), count: 6)
                let bytes = file.lowercased().hasSuffix("png") || file.hasSuffix("txt")
                    ? try GrayCodec.png(pixels, width: 3, height: 2) : try GrayCodec.jpeg(pixels, width: 3, height: 2, quality: 95)
                try Data(bytes).write(to: dir.appendingPathComponent(file))
            }
        }
        try Data("hidden".utf8).write(to: root.appendingPathComponent(".DS_Store"))
        let folder = try ImageFolder(root: root)
        #expect(folder.classNames == ["Zebra", "dog", "tabby cat"]) // byte order: uppercase first
        #expect(folder.files.map(\.lastPathComponent) == ["x.png", "z.png", "a.jpg", "b.png", "c.JPEG"])
        #expect(folder.labels == [0, 1, 2, 2, 2])
        let image = try folder.image(3) // b.png: first file written for tabby_cat, value 10
        #expect(image.width == 3 && image.height == 2)
        #expect(image.pixels.allSatisfy { $0 == 10 })
        let jpeg = try folder.image(2) // a.jpg: value 50, JPEG at q95 of a flat image stays within 2
        #expect(jpeg.pixels.allSatisfy { abs(Int($0) - 50) <= 2 })
        #expect(ImageFolder.folderName(className: "T-shirt/top") == "T-shirt-top")
        #expect(ImageFolder.folderName(className: "Ankle boot") == "Ankle_boot")
    }

    @Test func imageFolderErrors() throws {
        let root = try temporaryDirectory("bad-folder")
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(throws: DatasetError.invalidFolder(path: root.path, reason: "no class subfolders")) { try ImageFolder(root: root) }
        let empty = root.appendingPathComponent("empty_class")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(throws: DatasetError.invalidFolder(path: empty.path, reason: "class folder has no .png/.jpg/.jpeg images")) {
            try ImageFolder(root: root)
        }
        #expect(throws: DatasetError.self) { try ImageFolder(root: root.appendingPathComponent("missing")) }
    }

    @Test func domainFoldersAreSubfoldersInNameOrderWithEqualClasses() throws {
        let root = try temporaryDirectory("domains")
        defer { try? FileManager.default.removeItem(at: root) }
        let png = try GrayCodec.png([1, 2, 3, 4], width: 2, height: 2)
        for domain in ["sketch", "photo"] {
            for cls in ["cat", "dog"] {
                let dir = root.appendingPathComponent(domain).appendingPathComponent(cls)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try Data(png).write(to: dir.appendingPathComponent("0.png"))
            }
        }
        let domains = try ImageFolderDomains(root: root)
        #expect(domains.names == ["photo", "sketch"])
        #expect(domains.classNames == ["cat", "dog"])
        let odd = root.appendingPathComponent("quickdraw").appendingPathComponent("horse")
        try FileManager.default.createDirectory(at: odd, withIntermediateDirectories: true)
        try Data(png).write(to: odd.appendingPathComponent("0.png"))
        #expect(throws: DatasetError.self) { try ImageFolderDomains(root: root) }
    }
}
