import CSQLite

/// A failure reported by SQLite: its result code and its message for the failing call.
public struct SQLiteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The primary result code (`SQLITE_CONSTRAINT`, `SQLITE_BUSY`, ...).
    public var code: Int32
    /// The extended result code (`SQLITE_CONSTRAINT_PRIMARYKEY`, ...); equal to `code` when there is none.
    public var extendedCode: Int32
    /// SQLite's message, e.g. "UNIQUE constraint failed: verdicts.job_id, verdicts.epoch".
    public var message: String
    /// The SQL being run, or what was being done (e.g. "open /path"), when known.
    public var context: String?

    public init(code: Int32, extendedCode: Int32? = nil, message: String, context: String? = nil) {
        self.code = code & 0xff
        self.extendedCode = extendedCode ?? code
        self.message = message
        self.context = context
    }

    /// The error of the call that just failed on `handle`.
    ///
    /// Only meaningful because a connection is confined to one thread at a time (see `SQLiteDatabase`):
    /// otherwise another thread's call could replace the message before it is read.
    init(handle: OpaquePointer?, code: Int32, context: String?) {
        let extended = handle.map { sqlite3_extended_errcode($0) } ?? code
        let message = handle.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? String(cString: sqlite3_errstr(code))
        // The handle's codes may be stale if the failing call did not set them (e.g. misuse): trust `code`.
        let agrees = extended & 0xff == code & 0xff
        self.init(code: code, extendedCode: agrees ? extended : code, message: message, context: context)
    }

    public var description: String {
        let name = String(cString: sqlite3_errstr(code))
        var text = "SQLite error \(extendedCode) (\(name)): \(message)"
        if let context { text += " [\(context)]" }
        return text
    }
}

extension SQLiteError {
    /// `SQLITE_CONSTRAINT_PRIMARYKEY`, a macro expression Swift does not import.
    static let constraintPrimaryKey: Int32 = SQLITE_CONSTRAINT | (6 << 8)
}
