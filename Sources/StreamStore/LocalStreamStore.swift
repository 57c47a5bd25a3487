import Foundation
import SafeTensors
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Streams as files under one data directory (`DataLayout`): the embedded default. One process
/// owns the directory; there is no lease (two servers on one directory are not supported).
public struct LocalStreamStore: StreamStore {
    public let layout: DataLayout
    /// Free bytes that new streams and checkpoints may not take: the room left for journal
    /// records and snapshots, so that a disk filled by saves still takes the steps of every
    /// stream (`StorageRoom`).
    public let reserveBytes: Int
    /// Held by a limited write from its count to its end, one per client, so that the writes
    /// of this process (the directory's one user) count each other.
    let quotaLocks = ClientLocks()

    public init(root: URL, reserveBytes: Int = 0) {
        layout = DataLayout(root: root)
        self.reserveBytes = reserveBytes
    }

    public var name: String { "directory \(layout.root.path)" }

    public func create(_ key: StreamKey, metadata: Data, snapshot: Data, streamLimit: Int?, byteLimit: Int?) throws -> any StreamHandle {
        try StorageRoom.ensure(at: layout.root, for: metadata.count + snapshot.count, keeping: reserveBytes)
        guard streamLimit != nil || byteLimit != nil else { return try StorageRoom.writing { try build(key, metadata: metadata, snapshot: snapshot) } }
        return try quotaLocks.withLock(key.client) {
            if let streamLimit { try StreamStoreError.requireStreamRoom(stored: try streamCount(client: key.client), limit: streamLimit) }
            if let byteLimit {
                try StreamStoreError.requireStorage(stored: try storedBytes(client: key.client), adding: metadata.count + snapshot.count, limit: byteLimit)
            }
            return try StorageRoom.writing { try build(key, metadata: metadata, snapshot: snapshot) }
        }
    }

    /// Builds the stream's directory aside (metadata, snapshot 0, empty journal, all fsynced) and
    /// renames it into place: a crash leaves the whole stream or none of it.
    private func build(_ key: StreamKey, metadata: Data, snapshot: Data) throws -> any StreamHandle {
        let directory = layout.stream(client: key.client, id: key.id)
        let parent = directory.url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = StreamDirectory(url: parent.appendingPathComponent(".creating-\(key.id)-\(UInt32.random(in: 0...UInt32.max))"))
        try FileManager.default.createDirectory(at: staging.checkpointsURL, withIntermediateDirectories: true)
        do {
            try DurableFile.replace(staging.metadataURL, with: metadata)
            try DurableFile.replace(staging.snapshotURL(0), with: snapshot)
            _ = FileManager.default.createFile(atPath: staging.journalURL(generation: 0).path, contents: nil)
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
        return try LocalStreamHandle(directory: directory, store: self, client: key.client)
    }

    /// Reads the metadata, lists the snapshots and reads the journal's segments in order, cutting
    /// a torn last record (a crash mid-append, never acknowledged) off before appending after it.
    public func open(_ key: StreamKey, accept: ([UInt8]) -> Bool) throws -> OpenedStream {
        let directory = layout.stream(client: key.client, id: key.id)
        guard FileManager.default.fileExists(atPath: directory.url.path) else { throw StreamStoreError.notFound }
        guard let metadata = FileManager.default.contents(atPath: directory.metadataURL.path) else {
            throw StreamStoreError.damaged("meta.json cannot be read")
        }
        let snapshots = directory.snapshots().map { snapshot in
            StoredSnapshot(sequence: snapshot.sequence) { try Data(contentsOf: snapshot.url) }
        }
        var records: [[UInt8]] = []
        let segments = directory.journalSegments()
        for (i, segment) in segments.enumerated() {
            let (read, validLength) = try Journal.read(segment.url, accept: accept)
            records += read
            guard let size = try? FileManager.default.attributesOfItem(atPath: segment.url.path)[.size] as? Int, size > validLength else { continue }
            // Reading ends here. A later segment cannot follow a torn record (a segment starts
            // only after the previous one's last append returned); whatever is in one now could
            // never be read back after this point, so it goes before anything is appended.
            try Journal.cut(segment.url, to: validLength)
            for later in segments[(i + 1)...] { try FileManager.default.removeItem(at: later.url) }
            break
        }
        let handle = try StorageRoom.writing { try LocalStreamHandle(directory: directory, store: self, client: key.client) }
        return OpenedStream(metadata: metadata, snapshots: snapshots, journal: records, handle: handle)
    }

    public func exists(_ key: StreamKey) throws -> Bool {
        FileManager.default.fileExists(atPath: layout.stream(client: key.client, id: key.id).url.path)
    }

    public func streams(client: String, after: String?, limit: Int) throws -> [(id: String, metadata: Data)] {
        layout.streamIDs(client: client).filter { after == nil || $0 > after! }.prefix(max(0, limit)).compactMap { id in
            FileManager.default.contents(atPath: layout.stream(client: client, id: id).metadataURL.path).map { (id, $0) }
        }
    }

    public func streamCount(client: String) throws -> Int {
        layout.streamIDs(client: client).count
    }

    /// The sizes of every file under the client's streams: a walk, which only creations and
    /// checkpoint saves under a byte limit pay for (readdir and fstatat: FileManager's
    /// enumerator took 85 µs a file, 350 ms a save for a client with 4000 files).
    public func storedBytes(client: String) throws -> Int {
        Self.directoryBytes(layout.streamsURL(client: client).path)
    }

    /// Bytes of the regular files under `path`, symbolic links not followed; 0 for what cannot
    /// be read.
    static func directoryBytes(_ path: String) -> Int {
        guard let directory = opendir(path) else { return 0 }
        defer { closedir(directory) }
        let descriptor = dirfd(directory)
        var total = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            var status = stat()
            guard fstatat(descriptor, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFREG: total = total.addingReportingOverflow(Int(status.st_size)).partialValue
            case S_IFDIR: total = total.addingReportingOverflow(directoryBytes(path + "/" + name)).partialValue
            default: break
            }
        }
        return total
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

/// One stream's files, open for writing. Records go to the newest journal segment; preparing a
/// snapshot starts a new segment, and the snapshot, once durable, removes the segments before it
/// (all their records are below its sequence) while appends go on into the new one.
/// Unchecked Sendable: `journal` and `prepared` are touched under the stream's lock (appends and
/// prepares); `snapshot`, which may run beside an append, reads only `prepared`'s generation,
/// which no prepare changes while a snapshot runs (`StreamHandle`'s contract).
final class LocalStreamHandle: StreamHandle, @unchecked Sendable {
    let directory: StreamDirectory
    /// The store it belongs to (its reserve, its quota locks) and the client it is of.
    let store: LocalStreamStore
    let client: String
    private var journal: Journal
    private var generation: UInt64
    /// The snapshot prepared last, and the first segment its landing keeps.
    private let prepared = Mutex<(sequence: UInt64, generation: UInt64)?>(nil)

    init(directory: StreamDirectory, store: LocalStreamStore, client: String) throws {
        self.directory = directory
        self.store = store
        self.client = client
        if let newest = directory.journalSegments().last, let g = newest.generation {
            generation = g
            journal = try Journal(url: newest.url)
        } else {
            // A legacy journal (or none) is the oldest segment; new records go to a numbered one.
            generation = 0
            journal = try Journal(url: directory.journalURL(generation: 0))
            try DurableFile.syncDirectory(directory.url)
        }
    }

    func append(sequence: UInt64, payload: [UInt8]) throws {
        try StorageRoom.writing { try journal.append(payload) }
    }

    func prepareSnapshot(sequence: UInt64) throws {
        try StorageRoom.writing { try startSegment(sequence: sequence) }
    }

    private func startSegment(sequence: UInt64) throws {
        // An empty segment holds nothing the snapshot covers: it can stay the one appended to.
        if journal.length > 0 {
            let next = try Journal(url: directory.journalURL(generation: generation + 1))
            // The new file's name must be durable before a record in it is acknowledged.
            try DurableFile.syncDirectory(directory.url)
            journal = next
            generation += 1
        }
        prepared.withLock { $0 = (sequence, generation) }
    }

    /// The state to `state-<sequence>.safetensors` atomically, then older snapshots and the
    /// journal segments before the prepared one go.
    func snapshot(sequence: UInt64, data: Data) throws {
        guard let keep = prepared.withLock({ $0 }), keep.sequence == sequence else {
            preconditionFailure("snapshot(sequence: \(sequence)) without prepareSnapshot(sequence: \(sequence))")
        }
        try StorageRoom.ensure(at: directory.url, for: data.count, keeping: 0)
        try StorageRoom.writing { try DurableFile.replace(directory.snapshotURL(sequence), with: data) }
        for old in directory.snapshots() where old.sequence < sequence { try? FileManager.default.removeItem(at: old.url) }
        for segment in directory.journalSegments() where segment.generation.map({ $0 < keep.generation }) ?? true {
            try? FileManager.default.removeItem(at: segment.url)
        }
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

    func checkpointReader(named name: String) throws -> (any CheckpointReader)? {
        try LocalCheckpointReader(path: directory.checkpointURL(name).path)
    }

    func saveCheckpoint(named name: String, data: Data, byteLimit: Int?) throws {
        guard let byteLimit else { return try save(name, data) }
        try store.quotaLocks.withLock(client) {
            try StreamStoreError.requireStorage(stored: try store.storedBytes(client: client), adding: data.count, limit: byteLimit)
            try save(name, data)
        }
    }

    private func save(_ name: String, _ data: Data) throws {
        let url = directory.checkpointURL(name)
        guard !FileManager.default.fileExists(atPath: url.path) else { throw StreamStoreError.exists }
        try StorageRoom.ensure(at: directory.url, for: data.count, keeping: store.reserveBytes)
        try StorageRoom.writing {
            try FileManager.default.createDirectory(at: directory.checkpointsURL, withIntermediateDirectories: true)
            try DurableFile.replace(url, with: data)
        }
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

/// An open checkpoint file: the descriptor keeps the file's bytes readable even if it is
/// deleted meanwhile (checkpoints are never rewritten in place), so every part is of one file.
final class LocalCheckpointReader: CheckpointReader {
    private let descriptor: Int32
    let size: Int

    /// nil when there is no such file.
    init?(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw DurableFile.failure("cannot open checkpoint", path)
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw DurableFile.failure("cannot stat checkpoint", path)
        }
        self.descriptor = descriptor
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    func read(offset: Int, count: Int) throws -> Data {
        let wanted = max(0, min(count, size - offset))
        var data = Data(count: wanted)
        var done = 0
        while done < wanted {
            let n = data.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, wanted - done, off_t(offset + done)) }
            guard n > 0 else {
                if n < 0, errno == EINTR { continue }
                throw StreamStoreError.unavailable("a checkpoint read failed (errno \(errno))")
            }
            done += n
        }
        return data
    }
}

/// One lock per client (created on first use, kept: there are as many as clients with keys).
final class ClientLocks: Sendable {
    private final class Lock: Sendable {
        let mutex = Mutex(())
    }
    private let locks = Mutex<[String: Lock]>([:])

    func withLock<T>(_ client: String, _ body: () throws -> T) throws -> T {
        let lock = locks.withLock { locks in
            if let lock = locks[client] { return lock }
            let lock = Lock()
            locks[client] = lock
            return lock
        }
        return try lock.mutex.withLock { _ in try body() }
    }
}
