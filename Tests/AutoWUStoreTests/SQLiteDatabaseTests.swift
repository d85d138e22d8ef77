import Foundation
import Testing
@testable import AutoWUStore

@Suite struct SQLiteDatabaseTests {
    @Test func typedBindsReadBackExactly() throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.appending("t.sqlite3"))
        try database.execute("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n BLOB)")
        let insert = try database.prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)")
        let rows: [(Int64, Double, String, [UInt8])] = [
            (.max, 0.1, "héllo \u{0}wörld ✓", [0, 255, 7]),
            (.min, -1e300, "", []),
        ]
        for row in rows {
            try insert.bind(row.0, at: 1)
            try insert.bind(row.1, at: 2)
            try insert.bind(row.2, at: 3)
            try insert.bind(Data(row.3), at: 4)
            try insert.bindNull(at: 5)
            try insert.run()
            insert.reset()
        }
        let select = try database.prepare("SELECT i, d, s, b, n, typeof(s), typeof(b) FROM t ORDER BY rowid")
        for row in rows {
            #expect(try select.step())
            #expect(select.int64(column: 0) == row.0)
            #expect(select.double(column: 1) == row.1)
            #expect(select.string(column: 2) == row.2)
            #expect(select.bytes(column: 3) == row.3)
            #expect(select.data(column: 3) == Data(row.3))
            #expect(select.isNull(column: 4))
            // Empty values stay empty values, not NULL.
            #expect(select.string(column: 5) == "text")
            #expect(select.string(column: 6) == "blob")
        }
        #expect(try !select.step())
    }

    @Test func transactionCommitsOrRollsBack() throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.appending("t.sqlite3"))
        try database.execute("CREATE TABLE t (x INTEGER)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try database.transaction {
                try database.execute("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        #expect(!database.isInTransaction)
        let answer = try database.transaction {
            try database.execute("INSERT INTO t VALUES (2)")
            return 42
        }
        #expect(answer == 42)
        let sum = try database.prepare("SELECT group_concat(x) FROM t")
        #expect(try sum.step())
        #expect(sum.string(column: 0) == "2")

        let nested = #expect(throws: SQLiteError.self) {
            try database.transaction { try database.transaction {} }
        }
        #expect(nested?.message.contains("do not nest") == true)
        #expect(!database.isInTransaction)
    }

    @Test func errorsCarrySQLitesCodeAndMessage() throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.appending("t.sqlite3"))
        let syntax = #expect(throws: SQLiteError.self) { try database.execute("CREATE TABLEX t") }
        #expect(syntax?.code == 1)
        #expect(syntax?.message.contains("syntax error") == true)

        try database.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        let insert = try database.prepare("INSERT INTO t VALUES (?1)")
        try insert.bind(1, at: 1)
        try insert.run()
        insert.reset()
        try insert.bind(1, at: 1)
        let duplicate = #expect(throws: SQLiteError.self) { try insert.run() }
        #expect(duplicate?.code == 19)  // SQLITE_CONSTRAINT
        #expect(duplicate?.extendedCode == SQLiteError.constraintPrimaryKey)
        #expect(duplicate?.message.contains("UNIQUE constraint failed: t.k") == true)
        #expect(duplicate?.description.contains("INSERT INTO t") == true)

        // A statement that failed must be reset before it is bound again.
        let misuse = #expect(throws: SQLiteError.self) { try insert.bind(2, at: 1) }
        #expect(misuse?.code == 21)  // SQLITE_MISUSE
        insert.reset()
        let range = #expect(throws: SQLiteError.self) { try insert.bind(1, at: 9) }
        #expect(range?.code == 25)  // SQLITE_RANGE
    }

    @Test func prepareRefusesMoreThanOneStatement() throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.appending("t.sqlite3"))
        #expect(throws: SQLiteError.self) { try database.prepare("SELECT 1; SELECT 2") }
        #expect(throws: SQLiteError.self) { try database.prepare("  ") }
        _ = try database.prepare("SELECT 1;  ")
    }

    @Test func openingAnImpossiblePathFails() throws {
        let error = #expect(throws: SQLiteError.self) {
            try SQLiteDatabase(path: "/nonexistent-\(UUID().uuidString)/x.sqlite3")
        }
        #expect(error?.code == 14)  // SQLITE_CANTOPEN
        #expect(error?.context?.hasPrefix("open ") == true)
    }
}
