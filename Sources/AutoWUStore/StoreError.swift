/// Why the job store refused or failed an operation.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data directory could not be created, or exists but is not a directory.
    case cannotCreateDirectory(path: String, reason: String)
    /// SQLite could not open (or set up) the database file.
    case cannotOpen(path: String, underlying: SQLiteError)
    /// The file system would not switch to WAL (e.g. some network file systems); the store relies on it.
    case walUnavailable(path: String, journalMode: String)
    /// The file was written by a newer store whose schema this one does not know.
    case unsupportedSchemaVersion(found: Int64, supported: Int64)
    /// A save whose version is not greater than the stored one (a replayed or out-of-order write).
    case staleVersion(jobID: String, stored: Int64, attempted: Int64)
    /// A verdict for this job and epoch is already recorded; verdicts are never replaced.
    case duplicateVerdict(jobID: String, epoch: Int64)
    /// The job or verdict is malformed (empty id, unknown phase, non-finite time, mismatched ids).
    case invalidInput(String)
    /// Another process holds the data directory's lock (`holderPID` when the lock file names it).
    case locked(directory: String, holderPID: Int32?)
    /// The data directory or the store cannot be written (a read-only file system, permissions, a full disk).
    case notWritable(path: String, reason: String)
    /// The store file exists but is empty: it was truncated, or never written by autowu.
    case emptyFile(path: String)
    /// The store file is not an autowu store: not SQLite at all, or another application's database.
    case foreignFile(path: String, reason: String)
    /// A reader found no store to read (the directory or the file is missing).
    case noStore(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotCreateDirectory(let path, let reason):
            "cannot create the store directory '\(path)': \(reason)"
        case .cannotOpen(let path, let underlying):
            "cannot open the store '\(path)': \(underlying)"
        case .walUnavailable(let path, let journalMode):
            "the store '\(path)' cannot use WAL (journal mode stayed '\(journalMode)'); is it on a network file system?"
        case .unsupportedSchemaVersion(let found, let supported):
            "the store's schema version is \(found) but this build knows only up to \(supported); upgrade autowu"
        case .staleVersion(let jobID, let stored, let attempted):
            "stale save for job '\(jobID)': version \(attempted) is not greater than the stored \(stored)"
        case .duplicateVerdict(let jobID, let epoch):
            "job '\(jobID)' already has a verdict for epoch \(epoch)"
        case .invalidInput(let reason):
            "invalid input: \(reason)"
        case .locked(let directory, let holderPID):
            "the data directory '\(directory)' is in use by another autowud"
                + (holderPID.map { " (pid \($0))" } ?? " (pid unknown)")
                + "; stop it first, or give this one another --data-dir"
        case .notWritable(let path, let reason):
            "the store '\(path)' is not writable: \(reason)"
        case .emptyFile(let path):
            "the store '\(path)' is an empty file (0 bytes): it was truncated or not written by autowu; "
                + "move it away to start with a new, empty store"
        case .foreignFile(let path, let reason):
            "'\(path)' is not an autowu store: \(reason); move it away or choose another --data-dir"
        case .noStore(let path, let reason):
            "no store at '\(path)': \(reason)"
        }
    }
}
