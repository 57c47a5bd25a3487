import Adaptation
import Foundation

/// The streams held in memory, keyed by (client, id); loads streams from the data directory on
/// demand and evicts the least recently used idle ones beyond the memory budget.
actor StreamRegistry {
    private struct Key: Hashable {
        var client: String
        var id: String
    }

    let layout: DataLayout
    private let memoryBudget: Int
    private let metrics: ServerMetrics
    private var loaded: [Key: LiveStream] = [:]

    init(layout: DataLayout, memoryBudget: Int, metrics: ServerMetrics) {
        self.layout = layout
        self.memoryBudget = memoryBudget
        self.metrics = metrics
    }

    /// The stream and a ticket in its queue; a stream of another client is simply not found.
    func ticket(client: String, id: String) throws -> (LiveStream, Int) {
        let stream = try stream(client: client, id: id)
        return (stream, stream.takeTicket())
    }

    private func stream(client: String, id: String) throws -> LiveStream {
        let key = Key(client: client, id: id)
        if let stream = loaded[key] { return stream }
        let directory = layout.stream(client: client, id: id)
        guard Identifier.isValid(id), FileManager.default.fileExists(atPath: directory.metadataURL.path) else {
            throw APIError.notFound("no stream \"\(id.prefix(80))\"")
        }
        let stream = try LiveStream.load(from: directory)
        loaded[key] = stream
        metrics.liveStreams.set(Double(loaded.count))
        return stream
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
        let trash = stream.directory.url.deletingLastPathComponent().appendingPathComponent(".deleted-\(stream.metadata.id)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.moveItem(at: stream.directory.url, to: trash)
        try DurableFile.syncDirectory(trash.deletingLastPathComponent())
        try? FileManager.default.removeItem(at: trash)
    }

    func isLoaded(client: String, id: String) -> Bool { loaded[Key(client: client, id: id)] != nil }

    var loadedCount: Int { loaded.count }

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
