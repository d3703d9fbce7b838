import Dispatch
import Foundation
import SpoolEngine
import Testing

@testable import Folksbase

@Suite struct SharedTransactionsTests {
    @Test func writesThatWaitTogetherCommitTogetherAndOneThatThrowsIsUndoneAlone() async throws {
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
            let second = Task { try await shared.run(Self.insert("b", fails: true)) }
            let third = Task { try await shared.run(Self.insert("c", fails: false)) }
            try await waitFor { shared.pending == (2, true) }
            release.signal()
            try await held.value

            #expect(try await first.value == "a")
            await #expect(throws: FolksbaseError.self) { try await second.value }
            #expect(try await third.value == "c")
            let names = try await connection.read { db in
                try db.fetchAll("SELECT name FROM t ORDER BY name") { $0.string(at: 0) }
            }
            #expect(names == ["a", "c"])
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
