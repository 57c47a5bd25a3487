import Foundation

/// The files of one stream: `meta.json`, `state-<N>.safetensors` (a snapshot holding every
/// journal record with sequence < N), `journal.bin`, and `checkpoints/<name>.safetensors`.
public struct StreamDirectory: Sendable {
    public let url: URL

    public init(url: URL) { self.url = url }

    public var metadataURL: URL { url.appendingPathComponent("meta.json") }
    public var journalURL: URL { url.appendingPathComponent("journal.bin") }
    public var checkpointsURL: URL { url.appendingPathComponent("checkpoints") }

    public func snapshotURL(_ sequence: UInt64) -> URL { url.appendingPathComponent("state-\(sequence).safetensors") }

    public func checkpointURL(_ name: String) -> URL { checkpointsURL.appendingPathComponent("\(name).safetensors") }

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
