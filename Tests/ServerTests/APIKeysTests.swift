import Foundation
import Testing
@testable import Server

/// Keys are looked up by digest and compared whole: every key finds its client among many, and
/// no near miss finds one.
@Suite struct APIKeysTests {
    @Test("among 50 000 keys each finds its client; keys one byte off, cut or extended find none")
    func manyKeys() throws {
        let count = 50_000
        let pairs = (0..<count).map { (client: "c\($0 % 1000)", key: "key-\($0)-secret-\(String($0 &* 2_654_435_761, radix: 36))") }
        let keys = try APIKeys(pairs)
        #expect(keys.clientCount == 1000)
        var wrong = 0, nearMissesFound = 0
        for i in stride(from: 0, to: count, by: 7) {
            let (client, key) = pairs[i]
            if keys.client(forKey: key) != client { wrong += 1 }
            var bytes = Array(key.utf8)
            bytes[bytes.count / 2] ^= 1
            for miss in [String(decoding: bytes, as: UTF8.self), String(key.dropLast()), key + "0", ""] where keys.client(forKey: miss) != nil {
                nearMissesFound += 1
            }
        }
        #expect(wrong == 0)
        #expect(nearMissesFound == 0)
    }

    @Test("a key repeated for its own client is one key; shared by two clients it is an error")
    func repeatedKeys() throws {
        let keys = try APIKeys([("alice", "alice-secret-1"), ("alice", "alice-secret-1"), ("bob", "bob-secret-22")])
        #expect(keys.clientCount == 2)
        #expect(keys.client(forKey: "alice-secret-1") == "alice")
        #expect(throws: APIKeysError.self) { try APIKeys([("alice", "same-secret-1"), ("bob", "same-secret-1")]) }
    }
}
