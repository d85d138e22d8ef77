import CSQLite

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
            guard found < schemaVersion else { return }
            for migration in migrations[Int(found)...] {
                try database.execute(migration)
            }
            try database.execute("PRAGMA user_version = \(schemaVersion)")
        }
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
