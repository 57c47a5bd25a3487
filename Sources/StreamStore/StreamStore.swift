import Foundation

/// A stream's identity in a store: streams are private to the client (API key) that created them.
public struct StreamKey: Hashable, Sendable, CustomStringConvertible {
    public var client: String
    public var id: String

    public init(client: String, id: String) {
        self.client = client
        self.id = id
    }

    public var description: String { "\(client)/\(id)" }
}

/// A saved checkpoint as listed (its bytes are read on demand).
public struct StoredCheckpoint: Sendable, Equatable {
    public var name: String
    public var bytes: Int
    public var createdAt: Date?

    public init(name: String, bytes: Int, createdAt: Date?) {
        self.name = name
        self.bytes = bytes
        self.createdAt = createdAt
    }
}

/// One snapshot a store holds: every journal record with a sequence below `sequence` is in it.
/// Its bytes are read only when asked (a store may hold several; the newest readable one wins).
public struct StoredSnapshot: Sendable {
    public var sequence: UInt64
    public var read: @Sendable () throws -> Data

    public init(sequence: UInt64, read: @escaping @Sendable () throws -> Data) {
        self.sequence = sequence
        self.read = read
    }
}

/// What opening a stream reads back: everything needed to rebuild it, and the handle through
/// which it is written from now on.
public struct OpenedStream: Sendable {
    /// The stream's creation metadata, as given to `create` (JSON; the store does not read it).
    public var metadata: Data
    /// Newest first.
    public var snapshots: [StoredSnapshot]
    /// Journal payloads in sequence order, all records the store holds (the caller skips those a
    /// snapshot already contains).
    public var journal: [[UInt8]]
    public var handle: any StreamHandle

    public init(metadata: Data, snapshots: [StoredSnapshot], journal: [[UInt8]], handle: any StreamHandle) {
        self.metadata = metadata
        self.snapshots = snapshots
        self.journal = journal
        self.handle = handle
    }
}

/// Why a store refused or failed; mapped to HTTP once, at the server's edge.
public enum StreamStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `create`: a stream with this id exists. `saveCheckpoint`: a checkpoint with this name exists.
    case exists
    /// No such stream (or it was deleted meanwhile).
    case notFound
    /// This process no longer owns the stream: another server took its lease over and the
    /// fencing epoch moved on. Nothing was written; the stream must be dropped from memory.
    case fenced
    /// Another server holds the stream's lease (it wrote the stream within the lease time): this
    /// one may not take it over yet.
    case ownedElsewhere(owner: String)
    /// The store cannot be reached or answered with an error; the text is for the log.
    case unavailable(String)
    /// The stored stream is damaged (metadata missing or unreadable); the text names no path.
    case damaged(String)
    /// `create`: the client already has `stored` streams, and may have at most `limit`.
    case quotaExceeded(stored: Int, limit: Int)
    /// The store has no room for the write (a full disk or database volume, or the room the
    /// local store keeps free for journals and snapshots); nothing was written. The text is for
    /// the log.
    case storageFull(String)
    /// `create`, `saveCheckpoint`: the client stores `stored` bytes, and `adding` more would pass
    /// its limit of `limit` bytes.
    case storageQuotaExceeded(stored: Int, adding: Int, limit: Int)

    /// A refusal that says nothing about the stream itself: retrying later (or on the stream's
    /// owner) can succeed.
    public var isTransient: Bool {
        switch self {
        case .fenced, .ownedElsewhere, .unavailable, .storageFull: true
        case .exists, .notFound, .damaged, .quotaExceeded, .storageQuotaExceeded: false
        }
    }

    public var description: String {
        switch self {
        case .exists: "already exists"
        case .notFound: "not found"
        case .fenced: "this server's lease on the stream was taken over (fencing epoch moved on); nothing was written"
        case .ownedElsewhere(let owner): "the stream is owned by the live server \(owner)"
        case .unavailable(let why): "stream store unavailable: \(why)"
        case .damaged(let why): why
        case .quotaExceeded(let stored, let limit): "the client has \(stored) streams, at its limit of \(limit)"
        case .storageFull(let why): "the stream store has no room: \(why)"
        case .storageQuotaExceeded(let stored, let adding, let limit):
            "the client stores \(stored) bytes; \(adding) more would pass its limit of \(limit)"
        }
    }
}

/// Where streams persist. Every method blocks its calling thread until the store has answered
/// (the local store does file I/O and fsyncs; the PostgreSQL store waits for its commit), so
/// callers run them off the network event loops, as they always have for fsync.
///
/// Guarantees every implementation gives:
/// - `StreamHandle.append` returns only once the record is durable: the caller acknowledges the
///   request after it, never before.
/// - A snapshot at sequence N makes every journal record below N redundant; opening returns the
///   snapshots newest first and the journal records that follow.
/// - A snapshot may be written while later records are appended: records appended after
///   `prepareSnapshot(sequence: N)` survive the snapshot at N landing, whichever finishes first.
/// - Creating a stream is atomic: it exists with its metadata and first snapshot, or not at all.
public protocol StreamStore: Sendable {
    /// A short description for logs ("directory /srv/rada", "postgresql on db:5432/rada").
    var name: String { get }
    /// Stores a new stream (metadata and the snapshot at sequence 0) and returns its handle;
    /// throws `StreamStoreError.exists` when the id is taken, `quotaExceeded` when the client
    /// already has `streamLimit` streams, and `storageQuotaExceeded` when its stored bytes and the
    /// new stream's would pass `byteLimit`. The checks and the creation are one step for every
    /// process sharing the store (they hold the client's quota lock, which checkpoint saves with
    /// a byte limit take too): concurrent writes never pass a limit together.
    func create(_ key: StreamKey, metadata: Data, snapshot: Data, streamLimit: Int?, byteLimit: Int?) throws -> any StreamHandle
    /// Reads a stream back and takes ownership of it (the PostgreSQL store takes its lease).
    /// `accept` checks a journal payload; reading stops at the first it refuses. Throws
    /// `notFound`, `ownedElsewhere`, `damaged` or `unavailable`.
    func open(_ key: StreamKey, accept: ([UInt8]) -> Bool) throws -> OpenedStream
    func exists(_ key: StreamKey) throws -> Bool
    /// The client's streams with ids after `after` (all when nil), sorted by id, at most `limit`
    /// of them, with their metadata (unreadable ones left out). Paged because one metadata may be
    /// as large as a request body, and a client may have many streams.
    func streams(client: String, after: String?, limit: Int) throws -> [(id: String, metadata: Data)]
    /// How many streams the client has stored (readable or not): what its quota counts.
    func streamCount(client: String) throws -> Int
    /// Bytes the client's streams take in the store: metadata, snapshots, journals and
    /// checkpoints (what its byte quota counts).
    func storedBytes(client: String) throws -> Int
    /// Removes a stream that could not be opened (quarantined), without taking ownership through
    /// `open`; false when there is no such stream.
    func removeUnopened(_ key: StreamKey) throws -> Bool
    /// Ends this process's use of the store after the final snapshots (the PostgreSQL store closes
    /// its connections; streams were released as they were snapshotted).
    func close()
}

extension StreamStore {
    /// Stores a new stream with no limit on the client's streams.
    public func create(_ key: StreamKey, metadata: Data, snapshot: Data) throws -> any StreamHandle {
        try create(key, metadata: metadata, snapshot: snapshot, streamLimit: nil, byteLimit: nil)
    }

    /// Stores a new stream within a limit on the client's streams only.
    public func create(_ key: StreamKey, metadata: Data, snapshot: Data, streamLimit: Int?) throws -> any StreamHandle {
        try create(key, metadata: metadata, snapshot: snapshot, streamLimit: streamLimit, byteLimit: nil)
    }
}

extension StreamStoreError {
    /// Throws `quotaExceeded` unless the client's `stored` streams leave room for one more.
    public static func requireStreamRoom(stored: Int, limit: Int) throws {
        guard stored < limit else { throw quotaExceeded(stored: stored, limit: limit) }
    }

    /// Throws `storageQuotaExceeded` unless `adding` bytes to the `stored` ones stays within `limit`.
    public static func requireStorage(stored: Int, adding: Int, limit: Int) throws {
        let (total, overflow) = stored.addingReportingOverflow(adding)
        guard !overflow, total <= limit else { throw storageQuotaExceeded(stored: stored, adding: adding, limit: limit) }
    }
}

/// A stored checkpoint, read a part at a time from any thread (blocking I/O: off the event loops).
public protocol CheckpointReader: Sendable {
    var size: Int { get }
    /// Bytes `offset ..< offset + count` of the checkpoint (fewer only at its end). Throws
    /// `notFound` when the checkpoint was deleted meanwhile and its bytes are gone.
    func read(offset: Int, count: Int) throws -> Data
}

/// The write side of one open stream. Only touched under the stream's lock, one call at a time,
/// except `snapshot`, which may run on another thread beside `append` and the checkpoint calls
/// (never beside another `snapshot`, `prepareSnapshot` or `delete`).
public protocol StreamHandle: AnyObject, Sendable {
    /// Appends one journal record durably (fsync, or commit under the lease's epoch).
    func append(sequence: UInt64, payload: [UInt8]) throws
    /// Starts the snapshot at `sequence`, before the record of that sequence is appended: records
    /// appended from now on are kept when it lands. Cheap (the local store starts a journal
    /// segment), so it runs under the stream's lock while the snapshot's bytes are written after.
    func prepareSnapshot(sequence: UInt64) throws
    /// Stores the full state as the snapshot at `sequence` (prepared before) and drops older
    /// snapshots and the journal records it contains, keeping those appended since the prepare.
    func snapshot(sequence: UInt64, data: Data) throws
    func checkpoints() throws -> [StoredCheckpoint]
    func checkpoint(named name: String) throws -> Data?
    /// The checkpoint read a part at a time (a download holds one part, not the file); nil when
    /// there is no such checkpoint. Its parts are those of the checkpoint as it was when opened.
    func checkpointReader(named name: String) throws -> (any CheckpointReader)?
    /// Throws `StreamStoreError.exists` when the name is taken, `storageQuotaExceeded` when the
    /// client's stored bytes and these would pass `byteLimit` (checked and written under the
    /// client's quota lock, as `StreamStore.create`).
    func saveCheckpoint(named name: String, data: Data, byteLimit: Int?) throws
    /// False when there was no such checkpoint.
    func deleteCheckpoint(named name: String) throws -> Bool
    /// Removes the stream and everything stored with it.
    func delete() throws
    /// Throws `StreamStoreError.fenced` when another server has taken the stream over since this
    /// handle was opened: a read must not answer from a copy that stopped being the stream.
    func verifyOwnership() throws
    /// Gives up ownership without writing (shutdown after the final snapshot, eviction).
    func release()
}

extension StreamHandle {
    /// Stores a checkpoint with no limit on the client's stored bytes.
    public func saveCheckpoint(named name: String, data: Data) throws {
        try saveCheckpoint(named: name, data: data, byteLimit: nil)
    }
}
