import CSQLite
import Foundation

/// A read-only view of a daemon's store, for the command-line tools: never writes, never migrates, never
/// creates anything, so it can look at the store of a running daemon (WAL: readers do not block it).
///
/// Not Sendable: one connection, used from one thread.
public final class JobStoreReader {
    public let path: String
    private let database: SQLiteDatabase
    /// Stores before schema 2 have no model or posterior columns.
    private let hasTestDetails: Bool
    /// Schema 3 on: jobs have an owner column.
    private let hasOwners: Bool

    /// Opens `<directory>/autowu.sqlite3`; throws `StoreError` when there is no store there or it is not one.
    public init(directory: String) throws {
        path = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent("autowu.sqlite3").path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StoreError.noStore(path: directory, reason: "the data directory does not exist")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError.noStore(path: path, reason: "the data directory holds no store (has autowud run with it?)")
        }
        try JobStore.refuseEmptyFile(path)
        do {
            database = try SQLiteDatabase(path: path, readOnly: true)
            try JobStore.identify(database, path: path)
            let version = try JobStore.integer(database, "PRAGMA user_version")
            guard version <= JobStore.schemaVersion else {
                throw StoreError.unsupportedSchemaVersion(found: version, supported: JobStore.schemaVersion)
            }
            hasTestDetails = version >= 2
            hasOwners = version >= 3
        } catch let error as SQLiteError {
            throw StoreError.cannotOpen(path: path, underlying: error)
        }
    }

    /// The job with this id, whatever its phase, or nil.
    public func job(_ id: String) throws -> StoredJob? {
        let columns = hasOwners ? JobStore.jobColumns : JobStore.jobColumns.replacingOccurrences(of: "owner_uid", with: "NULL")
        let statement = try database.prepare("SELECT \(columns) FROM jobs WHERE job_id = ?1")
        try statement.bind(id, at: 1)
        return try statement.step() ? JobStore.job(from: statement) : nil
    }

    /// The job's verdicts, by epoch (without model and posterior in a store from before they were kept).
    public func verdicts(jobID: String) throws -> [StoredVerdict] {
        let columns = hasTestDetails ? JobStore.verdictColumns : "job_id, epoch, verdict, recorded_at, NULL, NULL"
        let statement = try database.prepare("SELECT \(columns) FROM verdicts WHERE job_id = ?1 ORDER BY epoch")
        try statement.bind(jobID, at: 1)
        var verdicts: [StoredVerdict] = []
        while try statement.step() { verdicts.append(JobStore.verdict(from: statement)) }
        return verdicts
    }
}
