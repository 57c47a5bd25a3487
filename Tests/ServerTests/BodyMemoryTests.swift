import Foundation
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
