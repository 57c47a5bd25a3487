import RadaNumerics

/// Class embeddings by class set (labels, prompts and templates as one canonical JSON text), so
/// that streams and stateless requests with the same classes embed their prompts once.
///
/// Bounded by entries and by bytes, keys included: a key is as large as its request's text, up
/// to a body (32 MiB), and a cache bounded only by count held 64 of them, 3.5 GB, for anyone
/// who sent 64 different large class sets. An entry over a quarter of the byte budget is not
/// kept (such class sets are rare, and each is as costly to keep as it is to recompute once).
/// When one more would pass either bound, the cache starts over.
struct ClassEmbeddingCache: Sendable {
    let maxEntries: Int
    let maxBytes: Int
    private var entries: [String: Matrix] = [:]
    /// Key and embedding bytes of the entries held.
    private(set) var bytes = 0

    init(maxEntries: Int = 64, maxBytes: Int = 64 << 20) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    var count: Int { entries.count }

    func embeddings(for key: String) -> Matrix? { entries[key] }

    mutating func store(_ embeddings: Matrix, for key: String) {
        guard entries[key] == nil else { return }
        let size = Self.size(key: key, embeddings)
        guard size <= maxBytes / 4 else { return }
        if entries.count >= maxEntries || bytes + size > maxBytes {
            entries.removeAll()
            bytes = 0
        }
        entries[key] = embeddings
        bytes += size
    }

    static func size(key: String, _ embeddings: Matrix) -> Int {
        key.utf8.count + embeddings.storage.count * MemoryLayout<Float>.stride
    }
}
