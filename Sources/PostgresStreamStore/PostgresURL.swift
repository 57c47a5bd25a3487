import Foundation
import PostgresNIO
import StreamStore

/// `postgres://user[:password]@host[:port]/database[?host=/socket/directory][&schema=NAME]` to a
/// connection configuration; `schema` keeps one deployment's tables apart from another's in one
/// database (created when missing). TLS is not offered: the store is meant for a database on loopback or a private
/// network (`sslmode` other than `disable` is refused rather than silently ignored).
enum PostgresURL {
    /// The configuration, the schema if one is named, and a description without the password (for logs).
    static func configuration(_ text: String) throws -> (PostgresConnection.Configuration, schema: String?, String) {
        func invalid(_ why: String) -> StreamStoreError {
            .unavailable("invalid store URL (\(why)); expected postgres://user[:password]@host[:port]/database")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              ["postgres", "postgresql"].contains(scheme) else { throw invalid("not a postgres:// URL") }
        guard let user = components.user, !user.isEmpty else { throw invalid("no user") }
        let database = components.path.hasPrefix("/") && components.path.count > 1 ? String(components.path.dropFirst()) : user
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        if let mode = query["sslmode"], mode != "disable" { throw invalid("sslmode \(mode) is not supported; use sslmode=disable") }
        let schema = query["schema"]
        if let schema {
            guard (1...63).contains(schema.utf8.count), schema.utf8.allSatisfy({ $0 == 95 || (97...122).contains($0) || (48...57).contains($0) }),
                  !(48...57).contains(schema.utf8.first!) else { throw invalid("schema must be 1-63 of a-z, 0-9, _, not starting with a digit") }
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw invalid("port \(port)") }
        var configuration: PostgresConnection.Configuration
        var description: String
        if let directory = query["host"], directory.hasPrefix("/") {
            let socket = "\(directory)/.s.PGSQL.\(port)"
            configuration = .init(unixSocketPath: socket, username: user, password: components.password, database: database)
            description = "\(user)@\(socket)/\(database)"
        } else {
            guard let host = components.host, !host.isEmpty else { throw invalid("no host") }
            configuration = .init(host: host, port: port, username: user, password: components.password, database: database, tls: .disable)
            description = "\(user)@\(host):\(port)/\(database)"
        }
        // A stream's write holds its lock while it waits: a database that stops answering must
        // turn into an error (503 store_unavailable), not a stream stuck for good. A statement
        // cancelled by the timeout has not committed.
        configuration.options.additionalStartupParameters.append(("statement_timeout", "30s"))
        if let schema {
            configuration.options.additionalStartupParameters.append(("search_path", schema))
            description += " schema \(schema)"
        }
        return (configuration, schema, description)
    }
}
