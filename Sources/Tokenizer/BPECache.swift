import Foundation

/// Word -> token ids memo shared by the copies of one tokenizer.
///
/// Prompts repeat words ("a photo of a ..."), and BPE on a word costs far more than a lookup.
/// Keys are the word's UTF-8 bytes, not `String`: Swift compares strings by canonical
/// equivalence, which would let two differently-encoded words share an entry.
/// `@unchecked Sendable` because every access to `entries` holds `lock`. (`Mutex` would need
/// macOS 15; the package supports macOS 14.)
final class BPECache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [[UInt8]: [Int]] = [:]
    /// A server sees unbounded vocabularies of user text; past this many words the memo restarts.
    let capacity: Int
    /// Longer words are not kept. Real words are short and repeat; long ones are mostly one-offs,
    /// and kept they would let clients fill memory: 65 536 words of 4 800 bytes (a 1 200-character
    /// prompt) with their ids held 0.5 GB. With this cap the memo holds at most about 40 MB.
    static let maxWordBytes = 64

    init(capacity: Int = 65_536) {
        self.capacity = capacity
    }

    func ids(for word: [UInt8]) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[word]
    }

    func store(_ ids: [Int], for word: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[word] = ids
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
