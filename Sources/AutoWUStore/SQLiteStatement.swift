import CSQLite
import Foundation

/// `SQLITE_TRANSIENT` is a cast macro that Swift does not import: it tells SQLite to copy bound bytes at once,
/// since Swift only lends them for the duration of the call.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension SQLiteDatabase {
    /// A compiled SQL statement. Parameters are 1-based (as in SQL's `?1`), columns 0-based (as in SQLite's C API).
    ///
    /// Confined like its database. Call `reset()` once done with a statement that is kept for reuse: one left
    /// mid-query keeps a read transaction open, which stops WAL checkpoints.
    public final class Statement {
        /// Keeps the connection open as long as the statement exists.
        public let database: SQLiteDatabase
        /// The SQL this statement was compiled from.
        public let sql: String
        let handle: OpaquePointer

        init(database: SQLiteDatabase, sql: String, persistent: Bool) throws {
            var statement: OpaquePointer?
            var remainder = ""
            let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
            let result = sql.withCString { text in
                var tail: UnsafePointer<CChar>?
                let result = sqlite3_prepare_v3(database.handle, text, -1, flags, &statement, &tail)
                if let tail { remainder = String(cString: tail) }
                return result
            }
            guard result == SQLITE_OK else {
                throw SQLiteError(handle: database.handle, code: result, context: sql)
            }
            // Anything after the first statement would be silently ignored: refuse it instead.
            guard let statement, remainder.allSatisfy({ $0.isWhitespace || $0 == ";" }) else {
                sqlite3_finalize(statement)
                throw SQLiteError(code: SQLITE_MISUSE, message: "expected exactly one SQL statement", context: sql)
            }
            self.database = database
            self.sql = sql
            self.handle = statement
        }

        deinit {
            sqlite3_finalize(handle)
        }

        // MARK: Binding

        public func bind(_ value: Int64, at parameter: Int) throws {
            try check(sqlite3_bind_int64(handle, Int32(parameter), value))
        }

        public func bind(_ value: Int, at parameter: Int) throws {
            try bind(Int64(value), at: parameter)
        }

        /// Note that SQLite stores NaN as NULL.
        public func bind(_ value: Double, at parameter: Int) throws {
            try check(sqlite3_bind_double(handle, Int32(parameter), value))
        }

        public func bind(_ value: String, at parameter: Int) throws {
            var value = value
            let result = value.withUTF8 { utf8 -> Int32 in
                // A NULL pointer would bind SQL NULL rather than an empty string.
                guard let base = utf8.baseAddress, !utf8.isEmpty else {
                    return sqlite3_bind_text(handle, Int32(parameter), "", 0, sqliteTransient)
                }
                return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                    sqlite3_bind_text64(handle, Int32(parameter), $0, sqlite3_uint64(utf8.count), sqliteTransient,
                                        UInt8(SQLITE_UTF8))
                }
            }
            try check(result)
        }

        /// Binds a BLOB; an empty one stays an empty BLOB, not NULL.
        public func bind(_ value: [UInt8], at parameter: Int) throws {
            try check(value.withUnsafeBytes { bindBlob($0, at: parameter) })
        }

        /// Binds a BLOB; an empty one stays an empty BLOB, not NULL.
        public func bind(_ value: Data, at parameter: Int) throws {
            try check(value.withUnsafeBytes { bindBlob($0, at: parameter) })
        }

        public func bindNull(at parameter: Int) throws {
            try check(sqlite3_bind_null(handle, Int32(parameter)))
        }

        private func bindBlob(_ bytes: UnsafeRawBufferPointer, at parameter: Int) -> Int32 {
            // A NULL pointer would bind SQL NULL rather than an empty BLOB.
            guard let base = bytes.baseAddress, !bytes.isEmpty else {
                return sqlite3_bind_zeroblob(handle, Int32(parameter), 0)
            }
            return sqlite3_bind_blob64(handle, Int32(parameter), base, sqlite3_uint64(bytes.count), sqliteTransient)
        }

        // MARK: Running

        /// Advances to the next row: true when a row is available, false when the statement is done.
        @discardableResult
        public func step() throws -> Bool {
            let result = sqlite3_step(handle)
            switch result {
            case SQLITE_ROW: return true
            case SQLITE_DONE: return false
            default: throw SQLiteError(handle: database.handle, code: result, context: sql)
            }
        }

        /// Steps until the statement is done (for statements that return no rows, or whose rows do not matter).
        public func run() throws {
            while try step() {}
        }

        /// Rewinds the statement and clears its bindings, ready for reuse.
        public func reset() {
            // sqlite3_reset repeats the last step's error, which `step()` already reported.
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }

        // MARK: Reading the current row

        public var columnCount: Int {
            Int(sqlite3_column_count(handle))
        }

        public func isNull(column: Int) -> Bool {
            sqlite3_column_type(handle, Int32(column)) == SQLITE_NULL
        }

        public func int64(column: Int) -> Int64 {
            sqlite3_column_int64(handle, Int32(column))
        }

        public func double(column: Int) -> Double {
            sqlite3_column_double(handle, Int32(column))
        }

        /// The column as UTF-8 text; "" for NULL.
        public func string(column: Int) -> String {
            // The pointer must be fetched before the length: fetching it may convert the value.
            guard let text = sqlite3_column_text(handle, Int32(column)) else { return "" }
            let count = Int(sqlite3_column_bytes(handle, Int32(column)))
            return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
        }

        /// The column as bytes; [] for NULL or an empty BLOB.
        public func bytes(column: Int) -> [UInt8] {
            guard let blob = sqlite3_column_blob(handle, Int32(column)) else { return [] }
            let count = Int(sqlite3_column_bytes(handle, Int32(column)))
            return Array(UnsafeRawBufferPointer(start: blob, count: count))
        }

        /// The column as bytes; empty for NULL or an empty BLOB.
        public func data(column: Int) -> Data {
            guard let blob = sqlite3_column_blob(handle, Int32(column)) else { return Data() }
            return Data(bytes: blob, count: Int(sqlite3_column_bytes(handle, Int32(column))))
        }

        private func check(_ result: Int32) throws {
            guard result == SQLITE_OK else {
                throw SQLiteError(handle: database.handle, code: result, context: sql)
            }
        }
    }
}
