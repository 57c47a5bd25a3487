import Adaptation
import Foundation
import SafeTensors
import Logging
import StreamStore
import Synchronization

/// The streams held in memory, keyed by (client, id); loads streams from the store on demand and
/// evicts the least recently used idle ones beyond the memory budget. A stream whose
/// stored state cannot be loaded is quarantined: its requests get a 503 naming it, it can still
/// be deleted, and every other stream is served as usual.
actor StreamRegistry {
    private typealias Key = StreamKey

    let store: any StreamStore
    private let memoryBudget: Int
    private let metrics: ServerMetrics
    private var loaded: [Key: LiveStream] = [:]
    /// Streams whose files failed to load, with the reason shown to their owner.
    private var quarantined: [Key: String] = [:]

    private let logger: Logger
    /// Loads in progress: a stream is read from the store and its journal replayed on `loader`'s
    /// threads, never inside this actor, so a cold stream delays only its own requests. Every
    /// store call that may wait (a file, a database) runs there too.
    private var loading: [Key: Task<LiveStream, any Error>] = [:]
    /// Creations in progress. The store puts a new stream's files in place before this registry
    /// holds it, and a request for the id in that moment used to load a second copy from them:
    /// two copies answering from one journal, each numbering its records from 0 (acknowledged
    /// steps lost, the stream unloadable after a crash). Requests for the id wait for these.
    private var creating: [Key: Task<LiveStream, any Error>] = [:]
    private let loader: WorkerPool
    /// What every stream uses of the server: the snapshot writer, the metrics it reports to.
    private let services: StreamServices
    /// Whether the last budget check ended above the budget (the streams it could have evicted
    /// were busy): requests then ask for the check again whatever their own stream's growth.
    nonisolated let overBudget = Atomic(false)

    init(store: any StreamStore, memoryBudget: Int, metrics: ServerMetrics, logger: Logger, loader: WorkerPool, snapshotWriter: WorkerPool) {
        self.store = store
        self.memoryBudget = memoryBudget
        self.metrics = metrics
        self.logger = logger
        self.loader = loader
        let (fenced, snapshots, failures) = (metrics.fencedWrites, metrics.snapshotDuration, metrics.snapshotFailures)
        services = StreamServices(
            snapshotWriter: snapshotWriter, fencedWrite: { fenced.increment() },
            snapshotWritten: { outcome in
                guard let error = outcome.error else { return snapshots.record(outcome.duration) }
                failures.increment()
                // The steps are safe in the journal; what grows is the replay a reload needs,
                // bounded by the journal limit, where the stream's requests start failing.
                logger.warning("periodic snapshot failed; retried after as many records again", metadata: [
                    "client": "\(outcome.client)", "stream": "\(outcome.stream)", "error": "\(error)",
                    "journal_records": "\(outcome.journalRecords)"])
            })
    }

    /// The stream and a ticket in its queue; a stream of another client is simply not found.
    func ticket(client: String, id: String) async throws -> (LiveStream, Int) {
        let stream = try await stream(client: client, id: id)
        return (stream, stream.takeTicket())
    }

    /// The stream, loaded if needed, without taking a place in its queue (checks that must not
    /// wait for the stream's turn, such as an upload's limit before its body is read).
    func stream(client: String, id: String) async throws -> LiveStream {
        let key = Key(client: client, id: id)
        if let stream = loaded[key] {
            guard stream.isLost else { return stream }
            // Another server took this stream over: this copy is stale; load it anew (which
            // waits for the new owner's lease to lapse, or is refused while it lives).
            drop(key, stream)
        }
        if let load = loading[key] { return try await settled(load, key) }
        if let creation = creating[key] {
            // Registered by now; a failed creation leaves whatever the store holds, found anew.
            if let created = try? await creation.value { return loaded[key] ?? created }
            return try await stream(client: client, id: id)
        }
        guard Identifier.isValid(id) else { throw APIError.notFound("no stream \"\(id.prefix(80))\"") }
        if let reason = quarantined[key] {
            guard try await onLoader({ try $0.exists(key) }) else { throw APIError.notFound("no stream \"\(id.prefix(80))\"") }
            throw APIError.quarantined(id: id, reason: reason)
        }
        let (loader, store, services) = (self.loader, self.store, self.services)
        let load = Task { try await loader.run { try LiveStream.load(key, from: store, services: services) } }
        loading[key] = load
        return try await settled(load, key)
    }

    /// Runs a store call on the loader's threads (it may block on a file or a database).
    private func onLoader<T: Sendable>(_ call: @escaping @Sendable (any StreamStore) throws -> T) async throws -> T {
        let store = self.store
        return try await loader.run { try call(store) }
    }

    private func drop(_ key: Key, _ stream: LiveStream) {
        guard loaded[key] === stream else { return }
        loaded[key] = nil
        metrics.liveStreams.set(Double(loaded.count))
        logger.warning("stream taken over by another server; dropped", metadata: ["client": "\(key.client)", "stream": "\(key.id)"])
    }

    /// The outcome of a load, recorded once (by whichever waiter resumes first, and only while
    /// that load is still the id's: a waiter of an older one must not undo a newer load).
    private func settled(_ load: Task<LiveStream, any Error>, _ key: Key) async throws -> LiveStream {
        do {
            let stream = try await load.value
            if loading[key] == load {
                loading[key] = nil
                loaded[key] = stream
                metrics.liveStreams.set(Double(loaded.count))
            }
            return loaded[key] ?? stream
        } catch let error as StreamStoreError where error.isTransient || error == .notFound {
            // Not the stream's fault: nothing to quarantine (no such stream, another live
            // owner, the store unreachable).
            if loading[key] == load { loading[key] = nil }
            throw error == .notFound ? APIError.notFound("no stream \"\(key.id.prefix(80))\"") : error
        } catch {
            if loading[key] == load {
                loading[key] = nil
                quarantined[key] = StreamLoadError.reason(error)
                metrics.quarantinedStreams.set(Double(quarantined.count))
                logger.error("stream quarantined", metadata: ["client": "\(key.client)", "stream": "\(key.id)", "error": "\(error)"])
            }
            throw APIError.quarantined(id: key.id, reason: quarantined[key] ?? StreamLoadError.reason(error))
        }
    }

    /// Deletes a stream that cannot be loaded (quarantined, or failing now) without loading it;
    /// false when the stream loads normally (delete it through its queue instead).
    func deleteIfUnloadable(client: String, id: String) async throws -> Bool {
        let key = Key(client: client, id: id)
        guard loaded[key] == nil else { return false }
        if quarantined[key] == nil {
            do { _ = try await stream(client: client, id: id); return false } catch let error as APIError where error.code == APIError.quarantinedCode {
                // Quarantined just now: fall through and delete it.
            }
        }
        guard try await onLoader({ try $0.removeUnopened(key) }) else { throw APIError.notFound("no stream \"\(id.prefix(80))\"") }
        quarantined[key] = nil
        metrics.quarantinedStreams.set(Double(quarantined.count))
        return true
    }

    /// Stores a new stream, within the client's quota of `streamLimit` streams and `byteLimit`
    /// stored bytes: the store counts
    /// and creates in one step for every server sharing it.
    func create(metadata: StreamMetadata, state: StreamState, streamLimit: Int, byteLimit: Int) async throws -> LiveStream {
        let key = Key(client: metadata.client, id: metadata.id)
        // One creation or load of an id at a time: a load already under way could otherwise
        // find this creation's files and hold a copy of its own.
        while true {
            if let load = loading[key] {
                _ = try? await settled(load, key)
            } else if let creation = creating[key] {
                _ = try? await creation.value
            } else {
                break
            }
        }
        let (loader, store, services) = (self.loader, self.store, self.services)
        // On this actor: the stream is registered, and the creation forgotten, before anyone
        // awaiting it resumes.
        let creation = Task<LiveStream, any Error> {
            defer { self.creating[key] = nil }
            let stream = try await loader.run {
                try LiveStream.create(metadata: metadata, state: state, streamLimit: streamLimit, byteLimit: byteLimit, in: store, services: services)
            }
            // A copy still held here belongs to a deleted incarnation of the id (deleted through
            // another server); the store's creation is the authority.
            self.loaded[key] = stream
            self.metrics.liveStreams.set(Double(self.loaded.count))
            return stream
        }
        creating[key] = creation
        return try await creation.value
    }

    func exists(client: String, id: String) async throws -> Bool {
        let key = Key(client: client, id: id)
        if let stream = loaded[key], !stream.isLost { return true }
        return try await onLoader { try $0.exists(key) }
    }

    func streamCount(client: String) async throws -> Int {
        try await onLoader { try $0.streamCount(client: client) }
    }

    /// The client's streams with their metadata, as stored.
    func storedStreams(client: String, after: String?, limit: Int) async throws -> [(id: String, metadata: Data)] {
        try await onLoader { try $0.streams(client: client, after: after, limit: limit) }
    }

    /// Deletes the stream from the store (the caller holds the stream's turn).
    func delete(_ stream: LiveStream) async throws {
        let key = Key(client: stream.metadata.client, id: stream.metadata.id)
        try await loader.run { try stream.delete() }
        if loaded[key] === stream { loaded[key] = nil }
        metrics.liveStreams.set(Double(loaded.count))
    }

    /// Evicts least recently used idle streams until the loaded ones fit the budget; an evicted
    /// stream's lease is released, so another server may take it without waiting.
    func enforceBudget() async {
        var total = loaded.values.reduce(0) { $0 + $1.memoryBytes }
        defer { overBudget.store(total > memoryBudget, ordering: .relaxed) }
        guard total > memoryBudget else { return }
        for (key, stream) in loaded.sorted(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            guard total > memoryBudget else { break }
            guard stream.pending == 0 else { continue }
            do { try await loader.run { try stream.snapshotIfNeeded() } } catch {
                // Evicted all the same: every step is in the journal (a reload replays it, as
                // after a crash), which the journal limit keeps short. Keeping it loaded instead
                // would let a full disk take the memory budget with it.
                logger.warning("eviction snapshot failed; evicted, its journal is replayed on the next load", metadata: [
                    "client": "\(key.client)", "stream": "\(key.id)", "error": "\(error)"])
            }
            // The actor was free during the snapshot: evict only a stream still loaded and idle
            // (a request that came and went meanwhile is in the journal the reload replays), and
            // not while a periodic snapshot such a request started is being written: a reload
            // would list files that write is about to replace or remove. Snapshots start only in
            // a turn, and a turn needs a ticket from this actor, so none starts before the drop.
            guard loaded[key] === stream, stream.pending == 0, !stream.isWritingSnapshot else { continue }
            total -= stream.memoryBytes
            loaded[key] = nil
            await loader.run { stream.handle.release() }
            metrics.evictions.increment()
        }
        metrics.liveStreams.set(Double(loaded.count))
    }

    /// Snapshots every loaded stream and releases its lease (graceful shutdown: another server
    /// may take it at once); returns the failures.
    func snapshotAll() -> [String] {
        loaded.values.compactMap { stream in
            defer { stream.handle.release() }
            do {
                try stream.snapshotIfNeeded()
                return nil
            } catch { return "\(stream.metadata.id): \(error)" }
        }
    }
}
