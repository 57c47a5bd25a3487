import Foundation
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// Streams as files under one data directory (`DataLayout`): the embedded default. One process
/// owns the directory; there is no lease (two servers on one directory are not supported).
public struct LocalStreamStore: StreamStore {
    public let layout: DataLayout

    public init(root: URL) {
        layout = DataLayout(root: root)
    }

    public var name: String { "directory \(layout.root.path)" }

    /// Builds the stream's directory aside (metadata, snapshot 0, empty journal, all fsynced) and
    /// renames it into place: a crash leaves the whole stream or none of it.
    public func create(_ key: StreamKey, metadata: Data, snapshot: Data) throws -> any StreamHandle {
        let directory = layout.stream(client: key.client, id: key.id)
        let parent = directory.url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = StreamDirectory(url: parent.appendingPathComponent(".creating-\(key.id)-\(UInt32.random(in: 0...UInt32.max))"))
        try FileManager.default.createDirectory(at: staging.checkpointsURL, withIntermediateDirectories: true)
        do {
            try DurableFile.replace(staging.metadataURL, with: metadata)
            try DurableFile.replace(staging.snapshotURL(0), with: snapshot)
            _ = FileManager.default.createFile(atPath: staging.journalURL.path, contents: nil)
            try DurableFile.syncDirectory(staging.url)
            guard rename(staging.url.path, directory.url.path) == 0 else {
                if errno == EEXIST || errno == ENOTEMPTY { throw StreamStoreError.exists }
                throw DurableFile.failure("cannot create stream directory", directory.url.path)
            }
            try DurableFile.syncDirectory(parent)
        } catch {
            try? FileManager.default.removeItem(at: staging.url)
            throw error
        }
        return try LocalStreamHandle(directory: directory)
    }

    /// Reads the metadata, lists the snapshots and reads the journal, cutting a torn last record
    /// (a crash mid-append, never acknowledged) off the file before appending after it.
    public func open(_ key: StreamKey, accept: ([UInt8]) -> Bool) throws -> OpenedStream {
        let directory = layout.stream(client: key.client, id: key.id)
        guard FileManager.default.fileExists(atPath: directory.url.path) else { throw StreamStoreError.notFound }
        guard let metadata = FileManager.default.contents(atPath: directory.metadataURL.path) else {
            throw StreamStoreError.damaged("meta.json cannot be read")
        }
        let snapshots = directory.snapshots().map { snapshot in
            StoredSnapshot(sequence: snapshot.sequence) { try Data(contentsOf: snapshot.url) }
        }
        let (records, validLength) = try Journal.read(directory.journalURL, accept: accept)
        if let size = try? FileManager.default.attributesOfItem(atPath: directory.journalURL.path)[.size] as? Int, size > validLength {
            try Journal.cut(directory.journalURL, to: validLength)
        }
        return OpenedStream(metadata: metadata, snapshots: snapshots, journal: records, handle: try LocalStreamHandle(directory: directory))
    }

    public func exists(_ key: StreamKey) throws -> Bool {
        FileManager.default.fileExists(atPath: layout.stream(client: key.client, id: key.id).url.path)
    }

    public func streams(client: String) throws -> [(id: String, metadata: Data)] {
        layout.streamIDs(client: client).compactMap { id in
            FileManager.default.contents(atPath: layout.stream(client: client, id: id).metadataURL.path).map { (id, $0) }
        }
    }

    public func removeUnopened(_ key: StreamKey) throws -> Bool {
        let url = layout.stream(client: key.client, id: key.id).url
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        try Self.removeDirectory(url, id: key.id)
        return true
    }

    public func close() {}

    /// Renames the directory aside (durably), then removes it: a crash leaves no half stream.
    static func removeDirectory(_ url: URL, id: String) throws {
        let trash = url.deletingLastPathComponent().appendingPathComponent(".deleted-\(id)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.moveItem(at: url, to: trash)
        try DurableFile.syncDirectory(trash.deletingLastPathComponent())
        try? FileManager.default.removeItem(at: trash)
    }
}

/// One stream's files, open for writing. Unchecked Sendable: its journal is only touched under
/// its stream's lock (`StreamHandle`'s contract).
final class LocalStreamHandle: StreamHandle, @unchecked Sendable {
    let directory: StreamDirectory
    private let journal: Journal

    init(directory: StreamDirectory) throws {
        self.directory = directory
        journal = try Journal(url: directory.journalURL)
    }

    func append(sequence: UInt64, payload: [UInt8]) throws {
        try journal.append(payload)
    }

    /// Full state to `state-<sequence>.safetensors` atomically, then older snapshots and the journal go.
    func snapshot(sequence: UInt64, data: Data) throws {
        try DurableFile.replace(directory.snapshotURL(sequence), with: data)
        for old in directory.snapshots() where old.sequence < sequence { try? FileManager.default.removeItem(at: old.url) }
        try journal.truncate()
    }

    func checkpoints() throws -> [StoredCheckpoint] {
        directory.checkpointNames().map { name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory.checkpointURL(name).path)
            return StoredCheckpoint(name: name, bytes: attributes?[.size] as? Int ?? 0, createdAt: attributes?[.modificationDate] as? Date)
        }
    }

    func checkpoint(named name: String) throws -> Data? {
        FileManager.default.contents(atPath: directory.checkpointURL(name).path)
    }

    func saveCheckpoint(named name: String, data: Data) throws {
        let url = directory.checkpointURL(name)
        guard !FileManager.default.fileExists(atPath: url.path) else { throw StreamStoreError.exists }
        try FileManager.default.createDirectory(at: directory.checkpointsURL, withIntermediateDirectories: true)
        try DurableFile.replace(url, with: data)
    }

    func deleteCheckpoint(named name: String) throws -> Bool {
        let url = directory.checkpointURL(name)
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        try FileManager.default.removeItem(at: url)
        try DurableFile.syncDirectory(directory.checkpointsURL)
        return true
    }

    func delete() throws {
        try LocalStreamStore.removeDirectory(directory.url, id: directory.url.lastPathComponent)
    }

    /// One process owns the directory: nothing can take the stream over.
    func verifyOwnership() throws {}

    func release() {}
}
