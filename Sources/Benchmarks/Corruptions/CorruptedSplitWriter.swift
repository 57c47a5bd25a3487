import Foundation

/// Writes a corrupted split as an ImageFolder tree, so that other tools can read exactly the
/// images the benchmark streams: `out/<corruption>/<class folder>/<index>.png`, the class folder
/// named by `ImageFolder.folderName(className:)` and the index the image's 5-digit position in
/// the split (the value its corruption is keyed by).
public enum CorruptedSplitWriter {
    /// Writes images `0..<min(limit, count)` of `set` under every corruption; returns the number
    /// of files written.
    @discardableResult
    public static func write(
        _ set: GrayImageSet, corruptions: [Corruption], severity: Int, seed: UInt64, limit: Int? = nil, to out: URL
    ) throws -> Int {
        let count = min(limit ?? set.count, set.count)
        let manager = FileManager.default
        var written = 0
        for corruption in corruptions {
            let base = out.appendingPathComponent(corruption.rawValue)
            let classFolders = set.classNames.map { base.appendingPathComponent(ImageFolder.folderName(className: $0)) }
            // Class folders are made when their first image is written: an empty class folder
            // would make ImageFolder (like torchvision's) refuse the tree after `--limit`.
            var made = [Bool](repeating: false, count: classFolders.count)
            for index in 0..<count {
                let pixels = try corruption.apply(
                    to: set.image(index), width: set.width, height: set.height, severity: severity, imageIndex: index, seed: seed)
                let png = try GrayCodec.png(pixels, width: set.width, height: set.height)
                let name = String(format: "%05d.png", index)
                let label = set.labels[index]
                if !made[label] {
                    try manager.createDirectory(at: classFolders[label], withIntermediateDirectories: true)
                    made[label] = true
                }
                try Data(png).write(to: classFolders[label].appendingPathComponent(name))
                written += 1
            }
        }
        return written
    }
}
