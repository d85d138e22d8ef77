import CSQLite
import Foundation

/// Checkpoints a store's write-ahead log from a connection of its own, so that copying the log into the
/// database file (and its fsync) never happens inside a commit. SQLite otherwise checkpoints automatically
/// at the end of the commit that grows the log past 1,000 pages; at thousands of jobs that is several
/// times a second, and the verdicts of that commit wait for the copy (docs/decisions.md, "Durability").
///
/// A PASSIVE checkpoint copies what no reader still needs and never blocks the writer. Use with
/// `JobStore.stopAutomaticCheckpoints()`; without it the log is checkpointed by the commits as before.
///
/// Not Sendable: one connection, used from one thread (the daemon's checkpoint queue).
public final class WALCheckpointer {
    public let path: String
    private let database: SQLiteDatabase

    /// A second connection to the store `store` opened.
    public init(of store: JobStore) throws {
        path = store.path
        do {
            database = try SQLiteDatabase(path: path)
            try database.execute("PRAGMA busy_timeout = 5000")
            // The same durability as the writer's: the copied pages are fsynced before the log is reused.
            try database.execute("PRAGMA synchronous = FULL")
        } catch let error as SQLiteError {
            throw StoreError.cannotOpen(path: path, underlying: error)
        }
    }

    /// Copies as much of the log as no reader needs. Returns the log's size and how much of it is now in the
    /// database file, in pages.
    @discardableResult
    public func checkpoint() throws -> (logPages: Int, checkpointedPages: Int) {
        let statement = try database.prepare("PRAGMA wal_checkpoint(PASSIVE)")
        // One row: busy, log frames, checkpointed frames.
        guard try statement.step() else { return (0, 0) }
        return (Int(statement.int64(column: 1)), Int(statement.int64(column: 2)))
    }
}
