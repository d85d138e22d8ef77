import CSQLite
import Foundation

extension JobStore {
    /// Migration `i` takes the schema from version `i` to `i + 1` (kept in `PRAGMA user_version`).
    /// Append new entries; never edit a released one, since files in the field already ran it.
    static let migrations: [String] = [
        """
        CREATE TABLE jobs (
            job_id     TEXT    PRIMARY KEY NOT NULL,
            spec       BLOB    NOT NULL,
            token_hash TEXT    NOT NULL,
            controller BLOB    NOT NULL,
            state      BLOB    NOT NULL,
            version    INTEGER NOT NULL,
            phase      TEXT    NOT NULL,
            updated_at REAL    NOT NULL
        );
        CREATE INDEX jobs_by_updated_at ON jobs (updated_at);
        CREATE TABLE verdicts (
            job_id      TEXT    NOT NULL REFERENCES jobs ON DELETE CASCADE,
            epoch       INTEGER NOT NULL,
            verdict     BLOB    NOT NULL,
            recorded_at REAL    NOT NULL,
            PRIMARY KEY (job_id, epoch)
        );
        """,
        // What a plot of a test needs: its fitted hyper-parameters, and the posterior of the latest test.
        """
        ALTER TABLE verdicts ADD COLUMN model BLOB;
        ALTER TABLE verdicts ADD COLUMN posterior BLOB;
        """,
        // Who owns a job (a uid proven by MUNGE); NULL: nobody.
        "ALTER TABLE jobs ADD COLUMN owner_uid INTEGER;",
    ]

    static var schemaVersion: Int64 { Int64(migrations.count) }

    /// Brings the file's schema up to date, all or nothing. The write lock (BEGIN IMMEDIATE) is taken before
    /// reading the version, so two processes opening a new file cannot both run the same migration.
    static func migrate(_ database: SQLiteDatabase) throws {
        try database.transaction {
            let found = try integer(database, "PRAGMA user_version")
            guard found <= schemaVersion else {
                throw StoreError.unsupportedSchemaVersion(found: found, supported: schemaVersion)
            }
            if try integer(database, "PRAGMA application_id") != applicationID {
                try database.execute("PRAGMA application_id = \(applicationID)")
            }
            guard found < schemaVersion else { return }
            for migration in migrations[Int(found)...] {
                try database.execute(migration)
            }
            try database.execute("PRAGMA user_version = \(schemaVersion)")
        }
    }

    /// Marks an autowu store in the SQLite header (`PRAGMA application_id`): "AWU1".
    static let applicationID: Int64 = 0x4157_5531

    /// A zero-length store is not a new store: it lost its content (or was never one), and opening it would
    /// silently start from nothing. A new store is a file that does not exist yet.
    static func refuseEmptyFile(_ path: String) throws {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
              size.intValue == 0 else { return }
        // Content only in the write-ahead log would still be a store; SQLite writes the header to the file
        // itself when it switches to WAL, so an autowu store never looks like this.
        let log = (try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber
        guard (log?.intValue ?? 0) == 0 else { return }
        throw StoreError.emptyFile(path: path)
    }

    /// Refuses a file that is not an autowu store, without writing to it: not SQLite, another application's
    /// database, or an SQLite file with tables of its own. New (empty) databases and stores written before
    /// the application id was set pass.
    static func identify(_ database: SQLiteDatabase, path: String) throws {
        let header: (application: Int64, version: Int64, tables: [String])
        do {
            try database.execute("PRAGMA busy_timeout = 5000")
            let statement = try database.prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            var tables: [String] = []
            while try statement.step() { tables.append(statement.string(column: 0)) }
            header = (try integer(database, "PRAGMA application_id"), try integer(database, "PRAGMA user_version"), tables)
        } catch let error as SQLiteError where error.code == SQLITE_NOTADB {
            throw StoreError.foreignFile(path: path, reason: "it is not an SQLite database (\(error.message))")
        }
        if header.application == applicationID { return }
        guard header.application == 0 else {
            let id = String(UInt32(truncatingIfNeeded: header.application), radix: 16)
            throw StoreError.foreignFile(path: path, reason: "it is the SQLite database of another application (application_id 0x\(id))")
        }
        if header.tables.isEmpty, header.version == 0 { return }  // new
        if header.version >= 1, Set(header.tables).isSuperset(of: ["jobs", "verdicts"]) { return }  // before the id
        let found = header.tables.isEmpty ? "no tables" : "tables " + header.tables.prefix(8).joined(separator: ", ")
        throw StoreError.foreignFile(path: path, reason: "it is an SQLite database without autowu's tables (\(found), schema version \(header.version))")
    }

    /// Sets the connection up for durability. Runs before the schema so a corrupt or foreign file fails here.
    static func configure(_ database: SQLiteDatabase, path: String) throws {
        // First, so that the following statements wait for another process's write lock instead of failing.
        try database.execute("PRAGMA busy_timeout = 5000")
        // Readers never block the writer, and a commit appends to the log instead of rewriting pages in place.
        let mode = try text(database, "PRAGMA journal_mode = WAL")
        guard mode.lowercased() == "wal" else {
            throw StoreError.walUnavailable(path: path, journalMode: mode)
        }
        // FULL fsyncs the WAL on every commit. Every verdict is stored before it is published, so a verdict
        // a job has acted on must survive power loss too; NORMAL would only survive a process crash.
        try database.execute("PRAGMA synchronous = FULL")
        // Per connection, off by default: needed for the verdicts' ON DELETE CASCADE.
        try database.execute("PRAGMA foreign_keys = ON")
    }

    static func integer(_ database: SQLiteDatabase, _ sql: String) throws -> Int64 {
        let statement = try database.prepare(sql)
        return try statement.step() ? statement.int64(column: 0) : 0
    }

    static func text(_ database: SQLiteDatabase, _ sql: String) throws -> String {
        let statement = try database.prepare(sql)
        return try statement.step() ? statement.string(column: 0) : ""
    }
}
