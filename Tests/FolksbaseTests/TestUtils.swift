import Foundation
import SpoolEngine
import TestServers

@testable import Folksbase

/// Runs `body` with a fresh temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    var template = Array((NSTemporaryDirectory() + "/folksbase-tests.XXXXXX").utf8CString)
    guard let created = mkdtemp(&template) else { throw SpoolError(.io, "mkdtemp failed") }
    let path = String(cString: created)
    defer { try? Disk.removeTree(path) }
    return try await body(path)
}

/// A clock that stands still until a test moves it.
final class ManualClock: SpoolClock {
    private let current: LockedValue<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_795_939_200)) { current = LockedValue(start) }

    func now() -> Date { current.withLock { $0 } }

    func set(_ date: Date) { current.withLock { $0 = date } }

    func sleep(until deadline: Date) async throws {
        current.withLock { $0 = max($0, deadline) }
    }
}

extension Date {
    /// `2026-12-01T08:00:00Z`-style literal for tests.
    static func utc(_ text: String) -> Date {
        guard let date = UTCTime.parseISO8601(text) else { fatalError("bad test date \(text)") }
        return date
    }
}

/// A store on a fresh file in `directory`, driven by `clock`.
func makeStore(in directory: String, clock: ManualClock = ManualClock()) throws -> SQLiteFolksbaseStore {
    try SQLiteFolksbaseStore(path: directory + "/folksbase.sqlite", clock: clock)
}

/// The path of a Python 3 interpreter, if the machine has one (for cross-checking rendered mail).
let python3Path: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Runs a Python script with `arguments` and returns its standard output.
func runPython(_ script: String, _ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python3Path!)
    process.arguments = ["-c", script] + arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    // A lost status leaves the output to speak: the caller checks what it holds.
    if let status = waitForExit(process), status != 0 { throw SpoolError(.io, "python exited \(status)") }
    return data
}

/// Every contact of a workspace, in email order, as the store keeps it.
func storedContacts(_ store: SQLiteFolksbaseStore, workspaceID: String) async throws -> [Contact] {
    try await store.connection.read { db in
        try db.fetchAll(
            """
            SELECT id, workspace_id, email, first_name, last_name, company, phone, created_at, updated_at
            FROM contacts WHERE workspace_id = ? ORDER BY email
            """, workspaceID
        ) { row in
            Contact(
                id: row.string(at: 0), workspaceId: row.string(at: 1), email: row.string(at: 2),
                firstName: row.optionalString(at: 3), lastName: row.optionalString(at: 4),
                company: row.optionalString(at: 5), phone: row.optionalString(at: 6),
                createdAt: SQLiteFolksbaseStore.date(milliseconds: row.int64(at: 7)),
                updatedAt: SQLiteFolksbaseStore.date(milliseconds: row.int64(at: 8)))
        }
    }
}
