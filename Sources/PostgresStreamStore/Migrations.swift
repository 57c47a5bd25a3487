import PostgresNIO

/// The schema, as numbered migrations applied in order once each (recorded in
/// `rada_schema_migrations`). Never edit an applied migration: add the next one.
///
/// - `rada_streams`: one row per stream, holding its metadata and its lease: `owner` (the server
///   that serves it, NULL when none), `lease_until` (extended by each of the owner's writes) and
///   `epoch`, the fencing token: a new value of the `rada_epochs` sequence at creation and at every
///   takeover, so no epoch is ever given twice, not even to a deleted stream's successor.
/// - `rada_journal`, `rada_snapshots`, `rada_checkpoints`: a stream's records, full states and
///   saved checkpoints, removed with the stream (`ON DELETE CASCADE`).
enum Migrations {
    static let all: [(version: Int, statements: [String])] = [
        (1, [
            "CREATE SEQUENCE rada_epochs",
            """
            CREATE TABLE rada_streams (
                client text NOT NULL,
                stream text NOT NULL,
                metadata bytea NOT NULL,
                owner text,
                lease_until timestamptz NOT NULL DEFAULT now(),
                epoch bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (client, stream)
            )
            """,
            """
            CREATE TABLE rada_journal (
                client text NOT NULL,
                stream text NOT NULL,
                sequence bigint NOT NULL,
                payload bytea NOT NULL,
                PRIMARY KEY (client, stream, sequence),
                FOREIGN KEY (client, stream) REFERENCES rada_streams ON DELETE CASCADE
            )
            """,
            """
            CREATE TABLE rada_snapshots (
                client text NOT NULL,
                stream text NOT NULL,
                sequence bigint NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (client, stream, sequence),
                FOREIGN KEY (client, stream) REFERENCES rada_streams ON DELETE CASCADE
            )
            """,
            """
            CREATE TABLE rada_checkpoints (
                client text NOT NULL,
                stream text NOT NULL,
                name text NOT NULL,
                data bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (client, stream, name),
                FOREIGN KEY (client, stream) REFERENCES rada_streams ON DELETE CASCADE
            )
            """,
        ]),
    ]

    /// Applies the missing migrations, each in its own transaction, under an advisory lock so
    /// that servers starting together apply each one once.
    static func apply(_ database: BlockingPostgres, schema: String?) throws {
        try database.withConnection { connection in
            let logger = connection.logger
            func run(_ sql: String) throws -> PostgresQueryResult {
                try BlockingPostgres.run(PostgresQuery(unsafeSQL: sql), on: connection, logger: logger)
            }
            _ = try run("SELECT pg_advisory_lock(7247081)")
            defer { _ = try? run("SELECT pg_advisory_unlock(7247081)") }
            // The name was checked to be a plain identifier (PostgresURL).
            if let schema { _ = try run("CREATE SCHEMA IF NOT EXISTS \(schema)") }
            _ = try run("CREATE TABLE IF NOT EXISTS rada_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            let applied = Set(try run("SELECT version FROM rada_schema_migrations").map { try $0.decode(Int.self) })
            for migration in all where !applied.contains(migration.version) {
                _ = try run("BEGIN")
                do {
                    for statement in migration.statements { _ = try run(statement) }
                    _ = try BlockingPostgres.run("INSERT INTO rada_schema_migrations (version) VALUES (\(migration.version))", on: connection, logger: logger)
                    _ = try run("COMMIT")
                } catch {
                    _ = try? run("ROLLBACK")
                    throw error
                }
            }
        }
    }
}
