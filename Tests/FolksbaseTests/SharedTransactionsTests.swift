import Dispatch
import Foundation
import SpoolEngine
import TestServers
import Testing

@testable import Folksbase

@Suite struct SharedTransactionsTests {
    /// The second write of the shared transaction throws, or the first: either way the other is
    /// kept once, whether it ran before the failure (and was rolled back and run again) or not.
    @Test(arguments: [false, true])
    func writesThatWaitTogetherCommitTogetherAndOneThatThrowsIsUndoneAlone(failingFirst: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            try await connection.transaction { db in try db.executeScript("CREATE TABLE t (name TEXT NOT NULL)") }
            let refused = Self.insert("b", fails: true)
            let kept = Self.insert("c", fails: false)
            let tasks = try await threeWrites(
                on: connection, second: failingFirst ? refused : kept, third: failingFirst ? kept : refused)

            #expect(try await tasks[0].value == "a")
            let (refusedTask, keptTask) = failingFirst ? (tasks[1], tasks[2]) : (tasks[2], tasks[1])
            await #expect(throws: FolksbaseError.self) { try await refusedTask.value }
            #expect(try await keptTask.value == "c")
            let names = try await connection.read { db in
                try db.fetchAll("SELECT name FROM t ORDER BY name") { $0.string(at: 0) }
            }
            #expect(names == ["a", "c"])
        }
    }

    /// A write that fills the database makes SQLite end the whole transaction itself, savepoints and
    /// all: the writes that waited with it fail, and each says the database is full.
    @Test func aWriteThatFillsTheDatabaseFailsItsTransactionWithThatReason() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/test.sqlite")
            try await connection.transaction { db in
                try db.executeScript("CREATE TABLE t (name TEXT NOT NULL, filler BLOB)")
            }
            try await connection.transaction { db in try db.executeScript("PRAGMA max_page_count = 16") }
            let tasks = try await threeWrites(
                on: connection, second: Self.insert("b", fails: false),
                third: { db in
                    try db.execute("INSERT INTO t (name, filler) VALUES ('c', zeroblob(1000000))")
                    return "c"
                })

            #expect(try await tasks[0].value == "a")
            for task in tasks.dropFirst() {
                let error = await #expect(throws: FolksbaseError.self) { try await task.value }
                #expect(error?.message.contains("full") == true, "\(String(describing: error))")
            }
            let names = try await connection.read { db in
                try db.fetchAll("SELECT name FROM t ORDER BY name") { $0.string(at: 0) }
            }
            #expect(names == ["a"])
        }
    }

    /// Queues three writes while another transaction holds `connection`: "a" takes the next
    /// transaction alone, `second` and `third` share the one after. Returns their tasks.
    private func threeWrites(
        on connection: SQLiteConnection, second: @escaping @Sendable (SQLiteConnection.Session) throws -> String,
        third: @escaping @Sendable (SQLiteConnection.Session) throws -> String
    ) async throws -> [Task<String, Error>] {
        let shared = SharedTransactions<String>(on: connection)
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        let held = Task { try await connection.transaction { _ in release.wait() } }
        let first = Task { try await shared.run(Self.insert("a", fails: false)) }
        try await waitUntil("\"a\" to be committing") { shared.pending == (0, true) }
        let secondWrite = Task { try await shared.run(second) }
        try await waitUntil("the second write to wait") { shared.pending == (1, true) }
        let thirdWrite = Task { try await shared.run(third) }
        try await waitUntil("the third write to wait") { shared.pending == (2, true) }
        release.signal()
        try await held.value
        return [first, secondWrite, thirdWrite]
    }

    private static func insert(_ name: String, fails: Bool) -> @Sendable (SQLiteConnection.Session) throws -> String {
        { db in
            try db.execute("INSERT INTO t (name) VALUES (?)", name)
            if fails { throw FolksbaseError(.invalidInput, "\(name) is refused after its insert") }
            return name
        }
    }
}
