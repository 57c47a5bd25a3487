import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import StreamStore
import Synchronization

/// A few PostgreSQL connections used from blocking callers. The store's callers are stream
/// writes that hold their stream's lock on a worker thread: they wait for a commit exactly as the
/// local store waits for an fsync. Waiting goes through NIO futures on NIO's own threads, never
/// through Swift's cooperative pool, so a waiting caller cannot starve the work it waits for.
final class BlockingPostgres: Sendable {
    let configuration: PostgresConnection.Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Connections not in use; one caller uses a connection at a time.
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextID = Atomic<Int>(0)
    /// Idle connections kept beyond this are closed (callers are bounded by the worker pools).
    private let maxIdle: Int

    init(configuration: PostgresConnection.Configuration, maxIdle: Int = 16, logger: Logger) {
        self.configuration = configuration
        self.maxIdle = maxIdle
        self.logger = logger
        group = MultiThreadedEventLoopGroup.singleton
    }

    /// Runs `body` on one connection of the pool; a connection that failed is not reused.
    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? connect()
        defer {
            let kept = !connection.isClosed && idle.withLock { pool in
                guard pool.count < maxIdle else { return false }
                pool.append(connection)
                return true
            }
            if !kept { connection.close().whenComplete { _ in } }
        }
        return try body(connection)
    }

    /// One statement, its rows collected.
    func query(_ query: PostgresQuery) throws -> PostgresQueryResult {
        try withConnection { try Self.run(query, on: $0, logger: logger) }
    }

    /// Runs `body`'s statements in one transaction on one connection: committed when `body`
    /// returns, rolled back when it throws. A connection whose rollback fails is closed, never
    /// handed to the next caller inside a broken transaction.
    func transaction<T>(_ body: ((PostgresQuery) throws -> PostgresQueryResult) throws -> T) throws -> T {
        try withConnection { connection in
            let run = { (query: PostgresQuery) in try Self.run(query, on: connection, logger: self.logger) }
            _ = try run("BEGIN")
            do {
                let value = try body(run)
                _ = try run("COMMIT")
                return value
            } catch {
                do { _ = try run("ROLLBACK") } catch { connection.close().whenComplete { _ in } }
                throw error
            }
        }
    }

    /// Longest a statement may go unanswered before its connection is closed (a database behind
    /// a partition never answers; its own `statement_timeout` of 30 s covers a slow one).
    static let answerDeadline = TimeAmount.seconds(40)

    static func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) throws -> PostgresQueryResult {
        let deadline = connection.eventLoop.scheduleTask(in: answerDeadline) { connection.close().whenComplete { _ in } }
        defer { deadline.cancel() }
        do { return try connection.query(query, logger: logger).wait() } catch {
            throw storeError(error)
        }
    }

    /// A statement's failure as the store states it: the database's disk full (SQLSTATE 53100,
    /// `disk_full`) is `storageFull`; anything else means the store cannot serve now.
    static func storeError(_ error: any Error) -> StreamStoreError {
        if let error = error as? PSQLError, error.serverInfo?[.sqlState] == diskFull {
            return .storageFull(String(reflecting: error))
        }
        return .unavailable(String(reflecting: error))
    }

    static let diskFull = "53100"

    private func connect() throws -> PostgresConnection {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        do {
            return try PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger).wait()
        } catch {
            throw StreamStoreError.unavailable("cannot connect to PostgreSQL: \(String(reflecting: error))")
        }
    }

    func closeAll() {
        for connection in idle.withLock({ pool in defer { pool.removeAll() }; return pool }) {
            try? connection.close().wait()
        }
    }
}
