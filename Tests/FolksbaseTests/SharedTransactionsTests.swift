import Dispatch
import Foundation
import SpoolEngine
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
            let shared = SharedTransactions<String>(on: connection)
            // A transaction holds the connection until three writes wait: the first takes the
            // next transaction alone, the other two share the one after.
            let release = DispatchSemaphore(value: 0)
            defer { release.signal() }
            let held = Task { try await connection.transaction { _ in release.wait() } }
            let first = Task { try await shared.run(Self.insert("a", fails: false)) }
            try await waitFor { shared.pending == (0, true) }
            let refused = Self.insert("b", fails: true)
            let kept = Self.insert("c", fails: false)
            let second = Task { try await shared.run(failingFirst ? refused : kept) }
            try await waitFor { shared.pending == (1, true) }
            let third = Task { try await shared.run(failingFirst ? kept : refused) }
            try await waitFor { shared.pending == (2, true) }
            release.signal()
            try await held.value

            #expect(try await first.value == "a")
            let (refusedTask, keptTask) = failingFirst ? (second, third) : (third, second)
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
            let shared = SharedTransactions<String>(on: connection)
            let release = DispatchSemaphore(value: 0)
            defer { release.signal() }
            let held = Task { try await connection.transaction { _ in release.wait() } }
            let first = Task { try await shared.run(Self.insert("a", fails: false)) }
            try await waitFor { shared.pending == (0, true) }
            let small = Task { try await shared.run(Self.insert("b", fails: false)) }
            try await waitFor { shared.pending == (1, true) }
            let filling = Task {
                try await shared.run { db in
                    try db.execute("INSERT INTO t (name, filler) VALUES ('c', zeroblob(1000000))")
                    return "c"
                }
            }
            try await waitFor { shared.pending == (2, true) }
            release.signal()
            try await held.value

            #expect(try await first.value == "a")
            for task in [small, filling] {
                let error = await #expect(throws: FolksbaseError.self) { try await task.value }
                #expect(error?.message.contains("full") == true, "\(String(describing: error))")
            }
            let names = try await connection.read { db in
                try db.fetchAll("SELECT name FROM t ORDER BY name") { $0.string(at: 0) }
            }
            #expect(names == ["a"])
        }
    }

    private static func insert(_ name: String, fails: Bool) -> @Sendable (SQLiteConnection.Session) throws -> String {
        { db in
            try db.execute("INSERT INTO t (name) VALUES (?)", name)
            if fails { throw FolksbaseError(.invalidInput, "\(name) is refused after its insert") }
            return name
        }
    }

    private func waitFor(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw FolksbaseError(.busy, "timed out") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}
