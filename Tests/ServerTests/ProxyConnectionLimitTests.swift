import Foundation
import Testing
@testable import Server

/// The per-address connection limit of `rada cluster-config`'s HAProxy, against a real HAProxy
/// in front of a real `rada serve` (local store: the limit is the proxy's, whatever the store).
/// Another loopback address (127.0.0.2) stands for another client host.
@Suite("HAProxy: connections per client address", .serialized,
       .enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"),
       .enabled(if: haproxyExecutable != nil, "needs HAProxy: `make test` installs it (apt: haproxy)"))
struct ProxyConnectionLimitTests {
    static let healthz = "GET /healthz HTTP/1.1\r\nHost: rada\r\n\r\n"

    /// One request on an open connection: its status, or nil when the proxy closed it unanswered.
    static func status(_ connection: RawConnection) async -> Int? {
        guard await connection.write(healthz) else { return nil }
        return await connection.readResponse(timeout: .seconds(5))?.status
    }

    @Test("an address at its limit of 3 is refused a 4th connection, unanswered; another address is served meanwhile; a closed connection makes room")
    func perAddressLimit() async throws {
        let (serverPort, proxyPort) = (try KillTests.freePort(), try KillTests.freePort())
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rada-proxy-limit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: data) }
        let server = try KillTests.launch(try #require(radaExecutable), port: serverPort, data: data)
        defer { server.terminate(); server.waitUntilExit() }
        try await KillTests.waitReady(serverPort)
        let proxy = try ProxyTests.launchProxy(port: proxyPort, servers: [serverPort], maxClientConnections: 3)
        defer { proxy.terminate(); proxy.waitUntilExit() }
        try await KillTests.waitReady(proxyPort)
        // The readiness probes' connections are closed; let the proxy see them go.
        try await Task.sleep(for: .milliseconds(300))

        let held = try (0..<3).map { _ in try RawConnection(port: proxyPort) }
        for connection in held { #expect(await Self.status(connection) == 200, "within the limit: served") }
        let fourth = try RawConnection(port: proxyPort)
        #expect(await Self.status(fourth) == nil, "a 4th connection from the same address is closed unanswered")
        let other = try RawConnection(port: proxyPort, source: "127.0.0.2")
        #expect(await Self.status(other) == 200, "another address is served while the first is at its limit")
        // The held connections are still served: the limit refuses new connections only.
        #expect(await Self.status(held[1]) == 200)

        held[0].hangUp()
        var again: Int?
        for _ in 0..<50 where again == nil {
            try await Task.sleep(for: .milliseconds(50))
            again = await Self.status(try RawConnection(port: proxyPort))
        }
        #expect(again == 200, "once one of its connections closes, the address may open another")
    }
}
