import Foundation

/// The files of one stream: `meta.json`, `state-<N>.safetensors` (a snapshot holding every
/// journal record with sequence < N), the journal as segments `journal-<G>.bin` (G a generation:
/// records in order across segments, oldest generation first; versions before 2026-12-03 kept
/// one `journal.bin`, read as the oldest), and `checkpoints/<name>.safetensors`.
public struct StreamDirectory: Sendable {
    public let url: URL

    public init(url: URL) { self.url = url }

    public var metadataURL: URL { url.appendingPathComponent("meta.json") }
    /// The single journal file of versions before segments (generation nil, before every other).
    public var legacyJournalURL: URL { url.appendingPathComponent("journal.bin") }
    public var checkpointsURL: URL { url.appendingPathComponent("checkpoints") }

    public func snapshotURL(_ sequence: UInt64) -> URL { url.appendingPathComponent("state-\(sequence).safetensors") }

    public func checkpointURL(_ name: String) -> URL { checkpointsURL.appendingPathComponent("\(name).safetensors") }

    public func journalURL(generation: UInt64) -> URL { url.appendingPathComponent("journal-\(generation).bin") }

    /// Journal segments present, oldest first (the legacy `journal.bin`, generation nil, first).
    public func journalSegments() -> [(generation: UInt64?, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        var segments: [(generation: UInt64?, url: URL)] = names.compactMap { name in
            guard name.hasPrefix("journal-"), name.hasSuffix(".bin"), let g = UInt64(name.dropFirst(8).dropLast(4)) else { return nil }
            return (g, url.appendingPathComponent(name))
        }.sorted { $0.generation! < $1.generation! }
        if names.contains("journal.bin") { segments.insert((nil, legacyJournalURL), at: 0) }
        return segments
    }

    /// Snapshot files present, newest (largest N) first.
    public func snapshots() -> [(sequence: UInt64, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.compactMap { name -> (UInt64, URL)? in
            guard name.hasPrefix("state-"), name.hasSuffix(".safetensors"),
                  let n = UInt64(name.dropFirst(6).dropLast(12)) else { return nil }
            return (n, url.appendingPathComponent(name))
        }.sorted { $0.0 > $1.0 }
    }

    public func checkpointNames() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsURL.path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.map { String($0.dropLast(12)) }.sorted()
    }
}

/// Where every client's streams live under the data directory.
public struct DataLayout: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }


    public func streamsURL(client: String) -> URL {
        root.appendingPathComponent("clients").appendingPathComponent(client).appendingPathComponent("streams")
    }

    public func stream(client: String, id: String) -> StreamDirectory {
        StreamDirectory(url: streamsURL(client: client).appendingPathComponent(id))
    }

    public func streamIDs(client: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: streamsURL(client: client).path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }
}
