import Foundation
import Testing

@testable import Folksbase

@Suite struct SQLiteConnectionTests {
    @Test func opensInWALWithFullSyncAndForeignKeys() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            let pragmas = try connection.transaction { db in
                [
                    try db.fetchOne("PRAGMA journal_mode") { $0.string(at: 0) },
                    try db.fetchOne("PRAGMA synchronous") { String($0.int64(at: 0)) },
                    try db.fetchOne("PRAGMA foreign_keys") { String($0.int64(at: 0)) },
                    try db.fetchOne("PRAGMA busy_timeout") { String($0.int64(at: 0)) },
                ]
            }
            #expect(pragmas == ["wal", "2", "1", "10000"])
        }
    }

    @Test func bindsAndReadsEveryType() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            let blob = Data([0, 1, 2, 255])
            let row = try connection.transaction { db in
                try db.executeScript("CREATE TABLE t (i INTEGER, d REAL, s TEXT, e TEXT, b BLOB, z BLOB, n TEXT)")
                try db.execute(
                    "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", Int64.max, 2.5, "héllo 👋", "", blob, Data(),
                    String?.none)
                return try db.fetchOne("SELECT i, d, s, e, b, z, n, typeof(e), typeof(z) FROM t") { row in
                    (
                        row.int64(at: 0), row.double(at: 1), row.string(at: 2), row.string(at: 3), row.data(at: 4),
                        row.data(at: 5), row.optionalString(at: 6), row.string(at: 7), row.string(at: 8)
                    )
                }
            }
            let values = try #require(row)
            #expect(values.0 == Int64.max)
            #expect(values.1 == 2.5)
            #expect(values.2 == "héllo 👋")
            #expect(values.3 == "")
            #expect(values.4 == blob)
            #expect(values.5 == Data())
            #expect(values.6 == nil)
            #expect(values.7 == "text")
            #expect(values.8 == "blob")
        }
    }

    @Test func transactionRollsBackWhenTheBodyThrows() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            try connection.transaction { db in try db.executeScript("CREATE TABLE t (x INTEGER)") }
            struct Abort: Error {}
            #expect(throws: Abort.self) {
                try connection.transaction { db in
                    try db.execute("INSERT INTO t VALUES (?)", 1)
                    throw Abort()
                }
            }
            let count = try connection.read { db in try db.fetchOne("SELECT count(*) FROM t") { $0.int64(at: 0) } }
            #expect(count == 0)
        }
    }

    @Test func readRefusesToWrite() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            try connection.transaction { db in try db.executeScript("CREATE TABLE t (x INTEGER)") }
            let error = #expect(throws: FolksbaseError.self) {
                try connection.read { db in try db.execute("INSERT INTO t VALUES (1)") }
            }
            #expect(error?.code == .invalidInput)
        }
    }

    @Test func aNestedTransactionFailsInsteadOfDeadlocking() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            try connection.transaction { db in try db.executeScript("CREATE TABLE t (x INTEGER)") }
            let error = #expect(throws: FolksbaseError.self) {
                try connection.transaction { db in
                    try db.execute("INSERT INTO t VALUES (1)")
                    try connection.transaction { inner in try inner.execute("INSERT INTO t VALUES (2)") }
                }
            }
            #expect(error?.code == .invalidInput)
            let count = try connection.read { db in try db.fetchOne("SELECT count(*) FROM t") { $0.int64(at: 0) } }
            #expect(count == 0)
        }
    }

    @Test func errorsNameTheStatementAndSQLiteReason() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            let error = #expect(throws: FolksbaseError.self) {
                try connection.transaction { db in try db.execute("SELECT * FROM missing_table WHERE x = ?", 1) }
            }
            #expect(error?.code == .database)
            #expect(error?.message.contains("\"SELECT * FROM missing_table WHERE x = ?\"") == true)
            #expect(error?.message.contains("no such table: missing_table") == true)
        }
    }

    @Test func constraintViolationsHaveTheirOwnCode() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            let error = #expect(throws: FolksbaseError.self) {
                try connection.transaction { db in
                    try db.executeScript("CREATE TABLE t (x INTEGER UNIQUE)")
                    try db.execute("INSERT INTO t VALUES (?)", 1)
                    try db.execute("INSERT INTO t VALUES (?)", 1)
                }
            }
            #expect(error?.code == .constraint)
        }
    }

    @Test func aReusedStatementInsertsManyRows() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            try connection.transaction { db in
                try db.executeScript("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT)")
                let insert = try db.statement("INSERT INTO t (id, name, note) VALUES (?, ?, ?)")
                for id in 1...10_000 {
                    try insert.bind(Int64(id), at: 1)
                    try insert.bind("name \(id)", at: 2)
                    try insert.bind(id.isMultiple(of: 2) ? nil : "odd", at: 3)
                    try insert.run()
                }
                #expect(try db.statement("INSERT INTO t (id, name, note) VALUES (?, ?, ?)") === insert)
            }
            let (count, notes) = try #require(
                try connection.read { db in
                    try db.fetchOne("SELECT count(*), count(note) FROM t") { ($0.int64(at: 0), $0.int64(at: 1)) }
                })
            #expect(count == 10_000)
            #expect(notes == 5_000)
        }
    }

    @Test func asyncAccessRunsOffTheCooperativePool() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            try await connection.transaction { db in try db.executeScript("CREATE TABLE t (x INTEGER)") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for value in 0..<20 {
                    group.addTask {
                        try await connection.transaction { db in try db.execute("INSERT INTO t VALUES (?)", value) }
                    }
                }
                try await group.waitForAll()
            }
            let sum = try await connection.read { db in try db.fetchOne("SELECT sum(x) FROM t") { $0.int64(at: 0) } }
            #expect(sum == 190)
        }
    }

    @Test func twoConnectionsShareOneFile() async throws {
        try await withTemporaryDirectory { directory in
            let first = try SQLiteConnection(path: directory + "/test.sqlite")
            let second = try SQLiteConnection(path: directory + "/test.sqlite")
            try first.transaction { db in
                try db.executeScript("CREATE TABLE t (x INTEGER)")
                try db.execute("INSERT INTO t VALUES (?)", 7)
            }
            let value = try second.read { db in try db.fetchOne("SELECT x FROM t") { $0.int64(at: 0) } }
            #expect(value == 7)
        }
    }
}
