import Adaptation
import Foundation
import SafeTensors
import Logging

/// The streams held in memory, keyed by (client, id); loads streams from the data directory on
/// demand and evicts the least recently used idle ones beyond the memory budget. A stream whose
/// stored state cannot be loaded is quarantined: its requests get a 503 naming it, it can still
/// be deleted, and every other stream is served as usual.
actor StreamRegistry {
    private struct Key: Hashable {
        var client: String
        var id: String
    }

    let layout: DataLayout
    private let memoryBudget: Int
    private let metrics: ServerMetrics
    private var loaded: [Key: LiveStream] = [:]
    /// Streams whose files failed to load, with the reason shown to their owner.
    private var quarantined: [Key: String] = [:]

    private let logger: Logger
    /// Loads in progress: a stream's files are read and its journal replayed on `loader`'s
    /// threads, never inside this actor, so a cold stream delays only its own requests.
    private var loading: [Key: Task<LiveStream, any Error>] = [:]
    private let loader: WorkerPool

    init(layout: DataLayout, memoryBudget: Int, metrics: ServerMetrics, logger: Logger, loader: WorkerPool) {
        self.layout = layout
        self.memoryBudget = memoryBudget
        self.metrics = metrics
        self.logger = logger
        self.loader = loader
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
        if let stream = loaded[key] { return stream }
        if let load = loading[key] { return try await settled(load, key) }
        let directory = layout.stream(client: client, id: id)
        guard Identifier.isValid(id), FileManager.default.fileExists(atPath: directory.url.path) else {
            throw APIError.notFound("no stream \"\(id.prefix(80))\"")
        }
        if let reason = quarantined[key] { throw APIError.quarantined(id: id, reason: reason) }
        let loader = self.loader
        let load = Task { try await loader.run { try LiveStream.load(from: directory) } }
        loading[key] = load
        return try await settled(load, key)
    }

    /// The outcome of a load, recorded once (by whichever waiter resumes first).
    private func settled(_ load: Task<LiveStream, any Error>, _ key: Key) async throws -> LiveStream {
        do {
            let stream = try await load.value
            if loading[key] != nil {
                loading[key] = nil
                loaded[key] = stream
                metrics.liveStreams.set(Double(loaded.count))
            }
            return loaded[key] ?? stream
        } catch {
            if loading[key] != nil {
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
        try Self.removeDirectory(layout.stream(client: client, id: id).url, id: id)
        quarantined[key] = nil
        metrics.quarantinedStreams.set(Double(quarantined.count))
        return true
    }

    func create(metadata: StreamMetadata, state: StreamState) throws -> LiveStream {
        let directory = layout.stream(client: metadata.client, id: metadata.id)
        let stream = try LiveStream.create(metadata: metadata, state: state, at: directory)
        loaded[Key(client: metadata.client, id: metadata.id)] = stream
        metrics.liveStreams.set(Double(loaded.count))
        return stream
    }

    func exists(client: String, id: String) -> Bool {
        loaded[Key(client: client, id: id)] != nil || FileManager.default.fileExists(atPath: layout.stream(client: client, id: id).url.path)
    }

    /// Deletes the stream's files (the caller holds the stream's turn).
    func delete(_ stream: LiveStream) throws {
        stream.markDeleted()
        loaded[Key(client: stream.metadata.client, id: stream.metadata.id)] = nil
        metrics.liveStreams.set(Double(loaded.count))
        try Self.removeDirectory(stream.directory.url, id: stream.metadata.id)
    }

    /// Renames the directory aside (durably), then removes it: a crash leaves no half stream.
    private static func removeDirectory(_ url: URL, id: String) throws {
        let trash = url.deletingLastPathComponent().appendingPathComponent(".deleted-\(id)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.moveItem(at: url, to: trash)
        try DurableFile.syncDirectory(trash.deletingLastPathComponent())
        try? FileManager.default.removeItem(at: trash)
    }

    /// Evicts least recently used idle streams until the loaded ones fit the budget.
    func enforceBudget() {
        var total = loaded.values.reduce(0) { $0 + $1.memoryBytes }
        guard total > memoryBudget else { return }
        for (key, stream) in loaded.sorted(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            guard total > memoryBudget else { break }
            guard stream.pending == 0 else { continue }
            do { try stream.snapshotIfNeeded() } catch { continue }
            total -= stream.memoryBytes
            loaded[key] = nil
            metrics.evictions.increment()
        }
        metrics.liveStreams.set(Double(loaded.count))
    }

    /// Snapshots every loaded stream (graceful shutdown); returns the failures.
    func snapshotAll() -> [String] {
        loaded.values.compactMap { stream in
            do {
                try stream.snapshotIfNeeded()
                return nil
            } catch { return "\(stream.metadata.id): \(error)" }
        }
    }
}
