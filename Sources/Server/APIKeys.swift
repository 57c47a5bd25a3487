import Foundation

/// Bearer keys and the client each one names. Keys are never logged or echoed.
///
/// Keys are found by a keyed 64-bit digest (Swift's `Hasher`, SipHash seeded at random per
/// process), then compared whole in constant time: a request costs one digest and about one
/// comparison however many clients there are (comparing with every key made each request, a
/// keyless flood's above all, cost O(clients)). Without the seed a guess cannot be aimed at a
/// key's bucket, so timing says nothing about any key's bytes.
public struct APIKeys: Sendable {
    private struct Entry: Sendable {
        var key: [UInt8]
        var client: String
    }

    private var entries: [Int: [Entry]] = [:]
    public let clientCount: Int

    public init(_ pairs: [(client: String, key: String)]) throws {
        var clients = Set<String>()
        for (client, key) in pairs {
            guard Identifier.isValid(client) else {
                throw APIKeysError("client name \"\(client)\" must be 1-64 characters of A-Z a-z 0-9 _ . -")
            }
            guard key.count >= 8 else { throw APIKeysError("the key of client \"\(client)\" is shorter than 8 characters") }
            let bytes = Array(key.utf8), digest = Self.digest(bytes)
            if let other = entries[digest]?.first(where: { $0.key == bytes }) {
                guard other.client == client else { throw APIKeysError("clients \"\(other.client)\" and \"\(client)\" share a key") }
                continue
            }
            entries[digest, default: []].append(Entry(key: bytes, client: client))
            clients.insert(client)
        }
        guard !entries.isEmpty else { throw APIKeysError("no API keys given") }
        clientCount = clients.count
    }

    /// Parses `client key` pairs, one a line; blank lines and lines starting with `#` are skipped.
    public init(parsing text: String, source: String) throws {
        var pairs: [(String, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw APIKeysError("\(source) line \(number + 1): expected \"client-name key\", found \(fields.count) fields")
            }
            pairs.append((String(fields[0]), String(fields[1])))
        }
        try self.init(pairs)
    }

    /// Reads a keys file (see `init(parsing:source:)`).
    public init(contentsOf url: URL) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw APIKeysError("cannot read API keys file \(url.path): \(error.localizedDescription)")
        }
        try self.init(parsing: text, source: url.path)
    }

    /// Parses `RADA_API_KEYS`: `client:key` pairs separated by commas.
    public init(environmentValue: String) throws {
        let pairs = try environmentValue.split(separator: ",").map { item -> (String, String) in
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { throw APIKeysError("RADA_API_KEYS entries must be client:key") }
            return (String(parts[0]), String(parts[1]))
        }
        try self.init(pairs)
    }

    /// The client owning `key`: the keys of its digest's bucket (almost always one or none) are
    /// each compared whole, without early exit on the first differing byte.
    func client(forKey key: String) -> String? {
        let presented = Array(key.utf8)
        var found: String?
        for entry in entries[Self.digest(presented)] ?? [] {
            var difference = UInt8(entry.key.count == presented.count ? 0 : 1)
            for i in 0..<min(entry.key.count, presented.count) { difference |= entry.key[i] ^ presented[i] }
            if difference == 0 { found = entry.client }
        }
        return found
    }

    private static func digest(_ bytes: [UInt8]) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes.count)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }
}

public struct APIKeysError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Names the API accepts for clients, streams and checkpoints (they become directory names).
enum Identifier {
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_-.".unicodeScalars.contains($0) }
    }

    static func require(_ name: String, _ what: String) throws {
        guard isValid(name) else {
            throw APIError.badRequest("\(what) \"\(name.prefix(80))\" must be 1-64 characters of A-Z a-z 0-9 _ . - and not start with \".\"")
        }
    }
}
