import CSQLite

/// One SQLite connection, closed when the last reference (including its statements') goes away.
///
/// Threading: the connection is opened with `SQLITE_OPEN_NOMUTEX` and must stay confined. The class is not
/// `Sendable`, so Swift 6 keeps it (and its statements) inside one isolation domain; a type that shares it
/// between threads, like `JobStore`, must serialise every use itself. Confinement rather than
/// `SQLITE_OPEN_FULLMUTEX`, because a per-call mutex protects neither a multi-call transaction nor the
/// error message read after a failing call, and an outer lock is needed for those anyway.
public final class SQLiteDatabase {
    /// The file this connection opened.
    public let path: String
    let handle: OpaquePointer

    /// Opens the database file at `path`, creating it if it does not exist; `readOnly` opens an existing
    /// file without ever writing to it.
    public init(path: String, readOnly: Bool = false) throws {
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let result = sqlite3_open_v2(path, &handle, flags, nil)
        guard result == SQLITE_OK, let handle else {
            // SQLite usually allocates a handle even on failure, only to carry the message.
            let error = SQLiteError(handle: handle, code: result, context: "open \(path)")
            sqlite3_close_v2(handle)
            throw error
        }
        // Extended codes tell a duplicate key (CONSTRAINT_PRIMARYKEY) from other constraint failures.
        sqlite3_extended_result_codes(handle, 1)
        self.path = path
        self.handle = handle
    }

    deinit {
        // Statements hold a strong reference to their database, so none is left to finalise here.
        sqlite3_close_v2(handle)
    }

    /// Runs one or more SQL statements that take no parameters, discarding any rows.
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard result == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(result))
            throw SQLiteError(code: result, extendedCode: sqlite3_extended_errcode(handle), message: text, context: sql)
        }
    }

    /// Compiles one SQL statement. `persistent` hints SQLite that the statement will be kept and reused.
    public func prepare(_ sql: String, persistent: Bool = false) throws -> Statement {
        try Statement(database: self, sql: sql, persistent: persistent)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE` ... `COMMIT`, rolling back if it (or the commit) throws.
    ///
    /// IMMEDIATE takes the write lock up front, so a read-then-write transaction cannot fail half way with
    /// `SQLITE_BUSY` because another connection wrote in between. Transactions do not nest.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        guard !isInTransaction else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "a transaction is already open; transactions do not nest",
                              context: "BEGIN IMMEDIATE")
        }
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // Some errors (e.g. SQLITE_FULL, SQLITE_IOERR) already rolled the transaction back.
            if isInTransaction {
                try? execute("ROLLBACK")
            }
            throw error
        }
    }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool {
        sqlite3_get_autocommit(handle) == 0
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE (an upsert that did nothing counts 0).
    public var changes: Int {
        Int(sqlite3_changes(handle))
    }
}
