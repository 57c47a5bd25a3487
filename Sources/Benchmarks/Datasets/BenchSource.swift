import Foundation
import Imaging

/// The images a bench streams: Fashion-MNIST (corrupted on the fly) or image folders.
public enum BenchSource {
    case fashionMNIST(GrayImageSet)
    case folders(ImageFolderDomains)

    /// `dataset`: `fashion-mnist` (with `split` train or test), `folder:PATH` (one domain) or
    /// `domains:PATH` (a folder of domain folders).
    public init(dataset: String, split: String) throws {
        if dataset == "fashion-mnist" {
            guard let split = FashionMNIST.Split(rawValue: split) else { throw DatasetError.unknown("split \"\(split)\": Fashion-MNIST has train and test") }
            self = .fashionMNIST(try FashionMNIST.load(split))
        } else if dataset.hasPrefix("folder:") {
            let root = URL(fileURLWithPath: String(dataset.dropFirst("folder:".count)))
            self = .folders(ImageFolderDomains(single: try ImageFolder(root: root)))
        } else if dataset.hasPrefix("domains:") {
            self = .folders(try ImageFolderDomains(root: URL(fileURLWithPath: String(dataset.dropFirst("domains:".count)))))
        } else {
            throw DatasetError.unknown("dataset \"\(dataset)\": give fashion-mnist, folder:PATH or domains:PATH")
        }
    }

    public var classNames: [String] {
        switch self {
        case .fashionMNIST(let set): set.classNames
        case .folders(let domains): domains.classNames
        }
    }

    public var labels: [[Int]] {
        switch self {
        case .fashionMNIST(let set): [set.labels]
        case .folders(let domains): domains.folders.map(\.labels)
        }
    }

    public func rgbImage(source: Int, item: StreamItem, corruptionSeed: UInt64) throws -> RGBImage {
        switch self {
        case .fashionMNIST(let set): try set.rgbImage(of: item, corruptionSeed: corruptionSeed)
        case .folders(let domains): try domains.folders[source].image(item.index)
        }
    }
}
