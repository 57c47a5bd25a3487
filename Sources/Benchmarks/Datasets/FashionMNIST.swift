import Foundation

/// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) as the Debian package `dataset-fashion-mnist`
/// installs it: gzipped IDX files, 28×28 grayscale, 10 classes.
public enum FashionMNIST {
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    public static let debianPackage = "dataset-fashion-mnist"
    /// The dataset's class names, in label order.
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    public static let side = 28

    public enum Split: String, Sendable, CaseIterable {
        case train, test
        var filePrefix: String { self == .train ? "train" : "t10k" }
        var expectedCount: Int { self == .train ? 60_000 : 10_000 }
    }

    /// Loads a split. A missing directory or file is reported with the apt command that installs
    /// it; the files are checked to hold 28×28 images and as many labels as images, all < 10.
    public static func load(_ split: Split, directory: URL = defaultDirectory) throws(DatasetError) -> GrayImageSet {
        let imagesURL = directory.appendingPathComponent("\(split.filePrefix)-images-idx3-ubyte.gz")
        let labelsURL = directory.appendingPathComponent("\(split.filePrefix)-labels-idx1-ubyte.gz")
        for url in [imagesURL, labelsURL] where !FileManager.default.fileExists(atPath: url.path) {
            throw .missingPackage(path: url.path, package: debianPackage)
        }
        let images = try IDXFile(contentsOf: imagesURL, expectedDimensions: 3)
        let labels = try IDXFile(contentsOf: labelsURL, expectedDimensions: 1)
        guard images.dimensions[1] == side, images.dimensions[2] == side else {
            throw .invalidIDX(path: imagesURL.path, reason: "images are \(images.dimensions[1])×\(images.dimensions[2]), Fashion-MNIST's are 28×28")
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw .mismatch("\(imagesURL.path) holds \(images.dimensions[0]) images but \(labelsURL.path) \(labels.dimensions[0]) labels")
        }
        return try GrayImageSet(
            width: side, height: side, pixels: images.values, labels: labels.values.map(Int.init), classNames: classNames)
    }
}
