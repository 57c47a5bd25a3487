import RadaNumerics
import Testing
@testable import Server

/// The class-embedding cache stays within its entries and bytes, keys counted, whatever is sent.
@Suite struct ClassEmbeddingCacheTests {
    static func embeddings(_ rows: Int, _ value: Float) -> Matrix { Matrix(rows: rows, cols: 8, repeating: value) }

    @Test("bytes and entries stay within their bounds; an entry over a quarter of the bytes is not kept")
    func bounded() {
        var cache = ClassEmbeddingCache(maxEntries: 5, maxBytes: 4096)
        var peak = 0
        for i in 0..<200 {
            let key = String(repeating: "k", count: (i * 37) % 900) + "\(i)"
            let value = Self.embeddings(1 + i % 10, Float(i))
            cache.store(value, for: key)
            peak = max(peak, cache.bytes)
            #expect(cache.count <= 5)
            if ClassEmbeddingCache.size(key: key, value) <= 1024 {
                #expect(cache.embeddings(for: key) == value, "entry \(i) is kept right after it is stored")
            } else {
                #expect(cache.embeddings(for: key) == nil, "entry \(i) is over a quarter of the budget")
            }
        }
        #expect(peak <= 4096 && peak > 2048)
    }

    @Test("a key stored twice keeps its first embeddings and counts once")
    func storedTwice() {
        var cache = ClassEmbeddingCache()
        cache.store(Self.embeddings(2, 1), for: "a")
        let bytes = cache.bytes
        cache.store(Self.embeddings(2, 2), for: "a")
        #expect(cache.bytes == bytes && cache.count == 1)
        #expect(cache.embeddings(for: "a") == Self.embeddings(2, 1))
    }
}
