import Foundation
import Logging
import PostgresStreamStore
import StreamStore

/// The store `rada serve --store` names: none, the local directory store on the data directory
/// (the default); `postgres://…`, PostgreSQL shared by every server given the same URL.
public enum StoreOption {
    public static func open(
        _ value: String?, dataDirectory: URL, diskReserveBytes: Int, serverID: String?, leaseSeconds: Double?, logger: Logger
    ) throws -> any StreamStore {
        guard let value else { return LocalStreamStore(root: dataDirectory, reserveBytes: diskReserveBytes) }
        guard value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") else {
            throw StreamStoreError.unavailable("--store takes a postgres:// URL (streams stay in --data-dir without it)")
        }
        return try PostgresStreamStore(url: value, serverID: serverID, leaseSeconds: leaseSeconds ?? 10, logger: logger)
    }
}
