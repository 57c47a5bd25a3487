import Foundation
import Synchronization
import Testing
@testable import Server

@Suite("Request-body memory: a server-wide budget and a per-client share, reserved before a body is read")
struct BodyMemoryTests {
    static let bodyBytes = 3 << 19  // 1.5 MiB
    static let counted = bodyBytes - BodyMemoryLimits().exemptBytes

    /// A classify request's head and all of its body but the last byte.
    static func withheld(_ port: Int, key: String, send bytes: Int = bodyBytes - 1) async throws -> RawConnection {
        let connection = try RawConnection(port: port)
        let head = "POST /v1/streams/s/classify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\nContent-Length: \(bodyBytes)\r\n\r\n"
        let body = Array(#"{"images":[""#.utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: bodyBytes - 15) + Array(#""]}"#.utf8)
        #expect(body.count == bodyBytes)
        #expect(await connection.write(head))
        #expect(await connection.write(Array(body.prefix(bytes))))
        return connection
    }

    @Test("withheld bodies hold their declared bytes; past a client's share its next body is a 429, past the server's a 503, both before a byte is read; small bodies are never refused; answered, the bytes come back")
    func budget() async throws {
        let server = TestServer {
            $0.limits.maxBodyBytes = 2 << 20
            $0.bodyMemory.totalBytes = 4 << 20
            $0.bodyMemory.perClientBytes = 3 << 20
        }
        try await server.run { client in
            let port = try #require(client.client.port)
            #expect(try await client.createStream("s").status == .created)
            #expect(try await client.createStream("s", key: "bob-key-4567").status == .created)
            let first = try await Self.withheld(port, key: "alice-key-123")
            let second = try await Self.withheld(port, key: "alice-key-123")
            try await client.waitForMetric("rada_request_body_memory_bytes") { $0 == Double(2 * Self.counted) }

            // Alice's third body would take her past her 3 MiB share: refused from its head.
            let third = try await Self.withheld(port, key: "alice-key-123", send: 0)
            let refused = try #require(await third.readResponse(timeout: .seconds(10)))
            #expect(refused.status == 429 && String(decoding: refused.body, as: UTF8.self).contains("client-body-memory-mb"),
                    "\(refused.status) \(String(decoding: refused.body, as: UTF8.self))")
            // Bob's first would take the server past its 4 MiB.
            let bob = try await Self.withheld(port, key: "bob-key-4567", send: 0)
            let unavailable = try #require(await bob.readResponse(timeout: .seconds(10)))
            #expect(unavailable.status == 503 && unavailable.headers["retry-after"] == "1" && String(decoding: unavailable.body, as: UTF8.self).contains("body-memory-mb"),
                    "\(unavailable.status) \(String(decoding: unavailable.body, as: UTF8.self))")
            // A small body is not counted: Alice still creates a stream.
            #expect(try await client.createStream("t").status == .created)
            #expect(try await client.metric("rada_request_body_memory_bytes") == Double(2 * Self.counted))

            // The first body completes (its images are not decodable: 422); its bytes come back.
            #expect(await first.write([UInt8(ascii: "}")]))
            let answered = try #require(await first.readResponse(timeout: .seconds(30)))
            #expect(answered.status == 422 || answered.status == 400, "\(answered.status)")
            try await client.waitForMetric("rada_request_body_memory_bytes") { $0 == Double(Self.counted) }
            // Now Bob's body fits.
            let again = try await Self.withheld(port, key: "bob-key-4567", send: Self.bodyBytes)
            let served = try #require(await again.readResponse(timeout: .seconds(30)))
            #expect(served.status == 422 || served.status == 400, "\(served.status) \(String(decoding: served.body, as: UTF8.self))")
            second.hangUp()
            try await client.waitForMetric("rada_request_body_memory_bytes") { $0 == 0 }
        }
    }
}

@Suite("Heap trimming after a peak of request bodies")
struct HeapTrimmerTests {
    @Test("one trim once a large peak has fallen to an eighth; none for small peaks; one due within the interval waits for its end")
    func trimsAfterPeaks() async throws {
        let trims = Atomic(0)
        let trimmer = HeapTrimmer(interval: .seconds(2)) { trims.wrappingAdd(1, ordering: .relaxed) }
        // The trim runs on a background queue: wait for an expected count (generously: the
        // suites share two cores), or a while to see that none came.
        func reaches(_ expected: Int) async throws -> Bool {
            for _ in 0..<500 where trims.load(ordering: .relaxed) < expected { try await Task.sleep(for: .milliseconds(10)) }
            return trims.load(ordering: .relaxed) == expected
        }
        func settled() async throws -> Int {
            try await Task.sleep(for: .milliseconds(100))
            return trims.load(ordering: .relaxed)
        }
        for bytes in [0, 100 << 20, 0, 127 << 20, 1 << 20, 0] { trimmer.held(bytes) }
        #expect(try await settled() == 0, "peaks under 128 MiB")
        for bytes in [256 << 20, 64 << 20, 33 << 20] { trimmer.held(bytes) }
        #expect(try await settled() == 0, "not yet an eighth of the peak")
        trimmer.held(32 << 20)
        #expect(try await reaches(1))
        for bytes in [0, 512 << 20, 0] { trimmer.held(bytes) }
        #expect(try await settled() == 1, "within the interval: deferred")
        #expect(try await reaches(2), "at the interval's end, with no further change")
        for bytes in [512 << 20, 0, 512 << 20, 0] { trimmer.held(bytes) }
        #expect(try await reaches(3))
        #expect(try await settled() == 3, "one more, however many peaks meanwhile")
    }
}
