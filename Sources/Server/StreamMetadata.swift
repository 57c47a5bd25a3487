import Foundation

/// What a stream was created with; stored as `meta.json` next to its state and never changed.
struct StreamMetadata: Codable, Sendable {
    var id: String
    var client: String
    var labels: [String]
    var prompts: [String: [String]]?
    var templates: [String]?
    var createdAt: Date
    var seed: UInt64
}

/// The files of one stream: `meta.json`, `state-<N>.safetensors` (a snapshot holding every
/// journal record with sequence < N), `journal.bin`, and `checkpoints/<name>.safetensors`.
struct StreamDirectory: Sendable {
    let url: URL
    var metadataURL: URL { url.appendingPathComponent("meta.json") }
    var journalURL: URL { url.appendingPathComponent("journal.bin") }
    var checkpointsURL: URL { url.appendingPathComponent("checkpoints") }

    func snapshotURL(_ sequence: UInt64) -> URL { url.appendingPathComponent("state-\(sequence).safetensors") }

    func checkpointURL(_ name: String) -> URL { checkpointsURL.appendingPathComponent("\(name).safetensors") }

    /// Snapshot files present, newest (largest N) first.
    func snapshots() -> [(sequence: UInt64, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.compactMap { name -> (UInt64, URL)? in
            guard name.hasPrefix("state-"), name.hasSuffix(".safetensors"),
                  let n = UInt64(name.dropFirst(6).dropLast(12)) else { return nil }
            return (n, url.appendingPathComponent(name))
        }.sorted { $0.0 > $1.0 }
    }

    func checkpointNames() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsURL.path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.map { String($0.dropLast(12)) }.sorted()
    }
}

/// Where every client's streams live under the data directory.
struct DataLayout: Sendable {
    let root: URL

    func streamsURL(client: String) -> URL {
        root.appendingPathComponent("clients").appendingPathComponent(client).appendingPathComponent("streams")
    }

    func stream(client: String, id: String) -> StreamDirectory {
        StreamDirectory(url: streamsURL(client: client).appendingPathComponent(id))
    }

    func streamIDs(client: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: streamsURL(client: client).path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }
}
