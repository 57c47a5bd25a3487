import ArgumentParser
import Server

/// `rada cluster-config`: the HAProxy configuration for several servers on one PostgreSQL store.
struct ClusterConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-config",
        abstract: "Print an HAProxy configuration that routes each stream to one of several servers (consistent hash of client + stream id).")

    @Option(help: "Address the proxy listens on (host:port).") var listen = "127.0.0.1:8080"
    @Option(help: "A `rada serve --store postgres://…` server (host:port); repeat for each.") var server: [String] = []
    @Option(help: "Connections one client address may hold at the proxy (of its \(HAProxyConfig.maxConnections)); 0: no limit, for a proxy behind another proxy or load balancer.")
    var maxClientConnections = HAProxyConfig.defaultMaxClientConnections

    func run() throws {
        guard let address = HAProxyConfig.Server(listen) else { throw ValidationError("--listen must be host:port") }
        let servers = try server.map { text in
            guard let parsed = HAProxyConfig.Server(text) else { throw ValidationError("--server \(text) must be host:port") }
            return parsed
        }
        guard !servers.isEmpty else { throw ValidationError("give at least one --server") }
        guard (0...HAProxyConfig.maxConnections).contains(maxClientConnections) else {
            throw ValidationError("--max-client-connections must be 0 (no limit) to \(HAProxyConfig.maxConnections)")
        }
        print(HAProxyConfig.render(listen: address, servers: servers, maxClientConnections: maxClientConnections), terminator: "")
    }
}
