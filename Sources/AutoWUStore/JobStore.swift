import CSQLite
import Foundation

/// The daemon's durable record of its jobs and of every verdict it published, in `<directory>/autowu.sqlite3`.
///
/// Thread-safe: `@unchecked Sendable` is sound because the only mutable state, the confined (non-Sendable)
/// SQLite connection and its cached statements, is touched only while `lock` is held, so calls from any
/// thread are serialised. Other processes may open the same file; SQLite's file locks and the busy timeout
/// keep them consistent.
public final class JobStore: @unchecked Sendable {
    /// The database file.
    public let path: String

    private let lock = NSLock()
    private let database: SQLiteDatabase
    // Cached: `save` runs once per epoch per job, for thousands of jobs.
    private let upsertJob: SQLiteDatabase.Statement
    private let insertVerdict: SQLiteDatabase.Statement
    private let clearOlderPosteriors: SQLiteDatabase.Statement
    private let selectVersion: SQLiteDatabase.Statement
    private let selectJob: SQLiteDatabase.Statement
    private let selectLiveJobs: SQLiteDatabase.Statement
    private let selectVerdicts: SQLiteDatabase.Statement
    private let deleteJob: SQLiteDatabase.Statement
    private let deleteOldJobs: SQLiteDatabase.Statement

    static let jobColumns = "job_id, spec, token_hash, controller, state, version, phase, updated_at, owner_uid"
    static let verdictColumns = "job_id, epoch, verdict, recorded_at, model, posterior"

    /// Opens (creating if needed) the store in `directory`, creating the directory and its parents too.
    public init(directory: String) throws {
        try Self.createDirectory(directory)
        let path = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent("autowu.sqlite3").path
        self.path = path
        try Self.refuseEmptyFile(path)
        do {
            let database = try SQLiteDatabase(path: path)
            // Before anything writes to it: a foreign file is left exactly as it was.
            try Self.identify(database, path: path)
            try Self.configure(database, path: path)
            try Self.migrate(database)
            func prepare(_ sql: String) throws -> SQLiteDatabase.Statement {
                try database.prepare(sql, persistent: true)
            }
            upsertJob = try prepare("""
                INSERT INTO jobs (\(Self.jobColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                ON CONFLICT (job_id) DO UPDATE SET
                    spec = excluded.spec, token_hash = excluded.token_hash, controller = excluded.controller,
                    state = excluded.state, version = excluded.version, phase = excluded.phase,
                    updated_at = excluded.updated_at, owner_uid = excluded.owner_uid
                WHERE excluded.version > jobs.version
                """)
            insertVerdict = try prepare(
                "INSERT INTO verdicts (\(Self.verdictColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            clearOlderPosteriors = try prepare(
                "UPDATE verdicts SET posterior = NULL WHERE job_id = ?1 AND epoch < ?2 AND posterior IS NOT NULL")
            selectVersion = try prepare("SELECT version FROM jobs WHERE job_id = ?1")
            selectJob = try prepare("SELECT \(Self.jobColumns) FROM jobs WHERE job_id = ?1")
            selectLiveJobs = try prepare(
                "SELECT \(Self.jobColumns) FROM jobs WHERE phase != 'expired' ORDER BY job_id")
            selectVerdicts = try prepare(
                "SELECT \(Self.verdictColumns) FROM verdicts WHERE job_id = ?1 ORDER BY epoch")
            deleteJob = try prepare("DELETE FROM jobs WHERE job_id = ?1")
            deleteOldJobs = try prepare("DELETE FROM jobs WHERE updated_at < ?1 RETURNING job_id")
            self.database = database
        } catch let error as SQLiteError {
            throw StoreError.cannotOpen(path: path, underlying: error)
        }
    }

    /// Proves that the store takes writes now: a real, durable write transaction (it rewrites the header's
    /// schema version with the same value, so nothing changes). Throws `StoreError.notWritable` with the
    /// reason (a read-only file system, a full disk) otherwise.
    public func checkWritable() throws {
        do {
            try locked {
                try database.transaction { try database.execute("PRAGMA user_version = \(Self.schemaVersion)") }
            }
        } catch let error as SQLiteError {
            throw StoreError.notWritable(path: path, reason: error.description)
        }
    }

    /// Copies the write-ahead log into the database file and truncates the log to zero bytes (a clean
    /// shutdown leaves one self-contained file). Returns false when a reader kept part of the log in use.
    @discardableResult
    public func checkpoint() throws -> Bool {
        try locked {
            let statement = try database.prepare("PRAGMA wal_checkpoint(TRUNCATE)")
            // One row: busy (1 if the checkpoint could not complete), log frames, checkpointed frames.
            return try statement.step() ? statement.int64(column: 0) == 0 : false
        }
    }

    /// Every job whose phase is not "expired", by job id.
    public func loadJobs() throws -> [StoredJob] {
        try locked {
            defer { selectLiveJobs.reset() }
            var jobs: [StoredJob] = []
            while try selectLiveJobs.step() {
                jobs.append(Self.job(from: selectLiveJobs))
            }
            return jobs
        }
    }

    /// The job with this id, whatever its phase, or nil.
    public func job(_ id: String) throws -> StoredJob? {
        try locked {
            defer { selectJob.reset() }
            try selectJob.bind(id, at: 1)
            return try selectJob.step() ? Self.job(from: selectJob) : nil
        }
    }

    /// Stores `job` (inserting or replacing it) and records `verdict`, both or neither.
    ///
    /// Throws `StoreError.staleVersion` if the stored job's version is not less than `job.version`, and
    /// `StoreError.duplicateVerdict` if the job already has a verdict for that epoch; nothing changes then.
    public func save(_ job: StoredJob, verdict: StoredVerdict? = nil) throws {
        try Self.validate(job, verdict: verdict)
        try locked {
            try database.transaction {
                try upsert(job)
                if let verdict {
                    try insert(verdict)
                }
            }
        }
    }

    /// Saves several jobs in one transaction, so with one fsync (group commit: the daemon persists the
    /// verdicts of many jobs at once). Each item lands whole or not at all, independently of the others;
    /// returns each item's error, nil where it landed. Throws only when the transaction itself fails, and
    /// then nothing landed.
    public func saveAll(_ items: [(job: StoredJob, verdict: StoredVerdict?)]) throws -> [(any Error)?] {
        var outcomes = [(any Error)?](repeating: nil, count: items.count)
        for (index, item) in items.enumerated() {
            do { try Self.validate(item.job, verdict: item.verdict) } catch { outcomes[index] = error }
        }
        try locked {
            try database.transaction {
                for (index, item) in items.enumerated() where outcomes[index] == nil {
                    try database.execute("SAVEPOINT item")
                    do {
                        try upsert(item.job)
                        if let verdict = item.verdict { try insert(verdict) }
                        try database.execute("RELEASE item")
                    } catch {
                        outcomes[index] = error
                        try database.execute("ROLLBACK TO item")
                        try database.execute("RELEASE item")
                    }
                }
            }
        }
        return outcomes
    }

    /// The job's verdicts, by epoch.
    public func verdicts(jobID: String) throws -> [StoredVerdict] {
        try locked {
            defer { selectVerdicts.reset() }
            try selectVerdicts.bind(jobID, at: 1)
            var verdicts: [StoredVerdict] = []
            while try selectVerdicts.step() {
                verdicts.append(Self.verdict(from: selectVerdicts))
            }
            return verdicts
        }
    }

    /// Deletes the job and its verdicts. Deleting an unknown job does nothing.
    public func delete(jobID: String) throws {
        try locked {
            defer { deleteJob.reset() }
            try deleteJob.bind(jobID, at: 1)
            // The verdicts go with it: ON DELETE CASCADE, in the same statement.
            try deleteJob.run()
        }
    }

    /// Deletes every job last updated before `olderThan` (seconds since 1970), with its verdicts;
    /// returns their ids, sorted.
    public func expire(olderThan: Double) throws -> [String] {
        guard !olderThan.isNaN else {
            throw StoreError.invalidInput("expire(olderThan:) needs a time, not NaN")
        }
        return try locked {
            try database.transaction {
                defer { deleteOldJobs.reset() }
                try deleteOldJobs.bind(olderThan, at: 1)
                var ids: [String] = []
                while try deleteOldJobs.step() {
                    ids.append(deleteOldJobs.string(column: 0))
                }
                return ids.sorted()
            }
        }
    }

    // MARK: Inside the lock

    private func upsert(_ job: StoredJob) throws {
        defer { upsertJob.reset() }
        try upsertJob.bind(job.jobID, at: 1)
        try upsertJob.bind(job.spec, at: 2)
        try upsertJob.bind(job.tokenHash, at: 3)
        try upsertJob.bind(job.controller, at: 4)
        try upsertJob.bind(job.state, at: 5)
        try upsertJob.bind(job.version, at: 6)
        try upsertJob.bind(job.phase, at: 7)
        try upsertJob.bind(job.updatedAt, at: 8)
        if let owner = job.ownerUID { try upsertJob.bind(Int64(owner), at: 9) } else { try upsertJob.bindNull(at: 9) }
        try upsertJob.run()
        // The upsert's WHERE skips the update when the version does not increase.
        if database.changes == 0 {
            defer { selectVersion.reset() }
            try selectVersion.bind(job.jobID, at: 1)
            let stored = try selectVersion.step() ? selectVersion.int64(column: 0) : job.version
            throw StoreError.staleVersion(jobID: job.jobID, stored: stored, attempted: job.version)
        }
    }

    private func insert(_ verdict: StoredVerdict) throws {
        defer { insertVerdict.reset() }
        try insertVerdict.bind(verdict.jobID, at: 1)
        try insertVerdict.bind(verdict.epoch, at: 2)
        try insertVerdict.bind(verdict.verdict, at: 3)
        try insertVerdict.bind(verdict.recordedAt, at: 4)
        try bind(verdict.model, to: insertVerdict, at: 5)
        try bind(verdict.posterior, to: insertVerdict, at: 6)
        do {
            try insertVerdict.run()
        } catch let error as SQLiteError where error.extendedCode == SQLiteError.constraintPrimaryKey {
            throw StoreError.duplicateVerdict(jobID: verdict.jobID, epoch: verdict.epoch)
        }
        if verdict.posterior != nil {
            defer { clearOlderPosteriors.reset() }
            try clearOlderPosteriors.bind(verdict.jobID, at: 1)
            try clearOlderPosteriors.bind(verdict.epoch, at: 2)
            try clearOlderPosteriors.run()
        }
    }

    private func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: Helpers

    private func bind(_ bytes: [UInt8]?, to statement: SQLiteDatabase.Statement, at parameter: Int) throws {
        if let bytes { try statement.bind(bytes, at: parameter) } else { try statement.bindNull(at: parameter) }
    }

    /// A row of `verdictColumns`.
    static func verdict(from row: SQLiteDatabase.Statement) -> StoredVerdict {
        StoredVerdict(jobID: row.string(column: 0), epoch: row.int64(column: 1), verdict: row.bytes(column: 2),
                      recordedAt: row.double(column: 3), model: row.isNull(column: 4) ? nil : row.bytes(column: 4),
                      posterior: row.isNull(column: 5) ? nil : row.bytes(column: 5))
    }

    static func job(from row: SQLiteDatabase.Statement) -> StoredJob {
        StoredJob(jobID: row.string(column: 0), spec: row.bytes(column: 1), tokenHash: row.string(column: 2),
                  controller: row.bytes(column: 3), state: row.bytes(column: 4), version: row.int64(column: 5),
                  phase: row.string(column: 6), updatedAt: row.double(column: 7),
                  ownerUID: row.isNull(column: 8) ? nil : UInt32(exactly: row.int64(column: 8)))
    }

    /// Refuses what would be stored wrongly (NaN becomes NULL in SQLite) or indicates a caller bug.
    private static func validate(_ job: StoredJob, verdict: StoredVerdict?) throws {
        guard !job.jobID.isEmpty else {
            throw StoreError.invalidInput("a job needs a non-empty id")
        }
        guard StoredJob.phases.contains(job.phase) else {
            throw StoreError.invalidInput("job '\(job.jobID)' has unknown phase '\(job.phase)'")
        }
        guard job.updatedAt.isFinite else {
            throw StoreError.invalidInput("job '\(job.jobID)' has a non-finite updatedAt")
        }
        // Guards against a raw token being stored by mistake instead of its hash.
        guard job.tokenHash.allSatisfy(\.isHexDigit) else {
            throw StoreError.invalidInput("job '\(job.jobID)' has a token hash that is not hex")
        }
        if let verdict {
            guard verdict.jobID == job.jobID else {
                throw StoreError.invalidInput("verdict for job '\(verdict.jobID)' saved with job '\(job.jobID)'")
            }
            guard verdict.recordedAt.isFinite else {
                throw StoreError.invalidInput("verdict of job '\(job.jobID)' has a non-finite recordedAt")
            }
        }
    }

    static func createDirectory(_ directory: String) throws {
        guard !directory.isEmpty else {
            throw StoreError.cannotCreateDirectory(path: directory, reason: "the path is empty")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw StoreError.cannotCreateDirectory(path: directory, reason: "it exists and is not a directory")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.cannotCreateDirectory(path: directory, reason: Self.reason(error))
        }
    }

    /// The POSIX reason behind a Foundation file error, and where it struck ("Not a directory: /srv/x").
    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        let underlying = (nsError.userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
        guard let underlying, underlying.domain == NSPOSIXErrorDomain else {
            return nsError.localizedDescription
        }
        let text = String(cString: strerror(Int32(underlying.code)))
        return (nsError.userInfo[NSFilePathErrorKey] as? String).map { "\(text): \($0)" } ?? text
    }
}
