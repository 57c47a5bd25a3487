import CLIP
import Foundation
import Imaging

/// A labelled image set laid out as torchvision's ImageFolder reads it:
/// `root/<class name>/<file>.png|jpg|jpeg`. Classes are the subfolders sorted by name (byte
/// order, as Python's `sorted`), shown with underscores read as spaces; files are sorted by name
/// within each class. Hidden entries and other extensions are skipped.
public struct ImageFolder: Sendable, Equatable {
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    public let root: URL
    /// Display names (underscores → spaces), in label order.
    public let classNames: [String]
    /// One entry per image, classes in order, files sorted within each class.
    public let files: [URL]
    public let labels: [Int]

    public var count: Int { files.count }

    /// Lists `root`. Fails if it is not a directory, has no class folders, or a class folder has
    /// no images (an empty class would silently shift nothing but skew the mean).
    public init(root: URL) throws(DatasetError) {
        let classFolders = try Self.sortedEntries(of: root).filter(Self.isDirectory)
        guard !classFolders.isEmpty else { throw .invalidFolder(path: root.path, reason: "no class subfolders") }
        var files: [URL] = []
        var labels: [Int] = []
        for (label, folder) in classFolders.enumerated() {
            let images = try Self.sortedEntries(of: folder).filter {
                Self.imageExtensions.contains($0.pathExtension.lowercased()) && !Self.isDirectory($0)
            }
            guard !images.isEmpty else {
                throw .invalidFolder(path: folder.path, reason: "class folder has no .png/.jpg/.jpeg images")
            }
            files += images
            labels += [Int](repeating: label, count: images.count)
        }
        self.root = root
        self.classNames = classFolders.map { Self.className(folderName: $0.lastPathComponent) }
        self.files = files
        self.labels = labels
    }

    /// Decodes image `index` (PNG or JPEG) to RGB.
    public func image(_ index: Int) throws(DatasetError) -> RGBImage {
        let url = files[index]
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadable(path: url.path, reason: error.localizedDescription) }
        do { return try ImageDecoder.decode(data) } catch { throw .undecodableImage(path: url.path, reason: error.description) }
    }

    /// A folder name as a class name: underscores read as spaces.
    public static func className(folderName: String) -> String { folderName.replacingOccurrences(of: "_", with: " ") }

    /// A class name as a folder name (the inverse direction, used by `rada corrupt`): spaces as
    /// underscores and '/' (not allowed in a path component) as '-'.
    public static func folderName(className: String) -> String {
        className.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "/", with: "-")
    }

    /// Non-hidden entries of a directory, sorted by name in byte order.
    static func sortedEntries(of directory: URL) throws(DatasetError) -> [URL] {
        guard isDirectory(directory) else { throw .invalidFolder(path: directory.path, reason: "not a directory") }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw .unreadable(path: directory.path, reason: error.localizedDescription)
        }
        return names.filter { !$0.hasPrefix(".") }
            .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { directory.appendingPathComponent($0) }
    }

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}

/// Several image folders used as the domains of one stream (`domains:PATH`): every subfolder of
/// PATH, in name order, is an ImageFolder; all must have the same classes.
public struct ImageFolderDomains: Sendable, Equatable {
    public let names: [String]
    public let folders: [ImageFolder]
    public var classNames: [String] { folders[0].classNames }

    public init(root: URL) throws(DatasetError) {
        let subfolders = try ImageFolder.sortedEntries(of: root).filter(ImageFolder.isDirectory)
        guard !subfolders.isEmpty else { throw .invalidFolder(path: root.path, reason: "no domain subfolders") }
        var folders: [ImageFolder] = []
        for subfolder in subfolders {
            let folder = try ImageFolder(root: subfolder)
            if let first = folders.first, first.classNames != folder.classNames {
                throw .mismatch("domain \(subfolder.lastPathComponent) has classes \(folder.classNames), but \(subfolders[0].lastPathComponent) has \(first.classNames)")
            }
            folders.append(folder)
        }
        self.names = subfolders.map(\.lastPathComponent)
        self.folders = folders
    }

    /// One image folder as the only domain (`folder:PATH`), named after its directory.
    public init(single folder: ImageFolder) {
        self.names = [folder.root.lastPathComponent]
        self.folders = [folder]
    }
}
