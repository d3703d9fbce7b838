import Foundation
import Testing

@testable import Folksbase

@Suite struct ExportStoreTests {
    @Test func createsAndListsExports() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            let other = try await store.createWorkspace(name: "Other")

            let first = try await store.createExport(workspaceID: workspace.id, userID: user.id)
            clock.set(clock.now().addingTimeInterval(1))
            let second = try await store.createExport(workspaceID: other.id, userID: user.id)
            clock.set(clock.now().addingTimeInterval(1))
            let third = try await store.createExport(workspaceID: workspace.id, userID: user.id)

            #expect(first.id.hasPrefix("exp_"))
            #expect(
                first
                    == ExportRecord(
                        id: first.id, workspaceId: workspace.id, userId: user.id, status: .processing,
                        createdAt: clock.now() - 2))
            #expect(try await store.exportRecord(id: first.id) == first)
            #expect(try await store.exportRecord(id: "exp_missing") == nil)
            #expect(try await store.exports(workspaceID: workspace.id) == [third, first])
            #expect(try await store.exports(workspaceID: nil) == [third, second, first])
        }
    }

    @Test func createExportNamesWhatIsMissing() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let noWorkspace = await #expect(throws: FolksbaseError.self) {
                try await store.createExport(workspaceID: "ws_gone", userID: user.id)
            }
            #expect(noWorkspace?.code == .notFound)
            #expect(noWorkspace?.message.contains("workspace ws_gone") == true)
            let noUser = await #expect(throws: FolksbaseError.self) {
                try await store.createExport(workspaceID: workspace.id, userID: "usr_gone")
            }
            #expect(noUser?.code == .notFound)
            #expect(noUser?.message.contains("user usr_gone") == true)
            #expect(try await store.exports(workspaceID: nil).isEmpty)
        }
    }

    @Test func completeExportOnlyOnceAndFailExportNeverUndoesIt() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            let export = try await store.createExport(workspaceID: workspace.id, userID: user.id)

            clock.set(clock.now().addingTimeInterval(5))
            let completed = try await store.completeExport(id: export.id, blobURL: "file:///blobs/e.csv", rowCount: 42)
            var expected = export
            expected.status = .completed
            expected.blobUrl = "file:///blobs/e.csv"
            expected.rowCount = 42
            expected.completedAt = clock.now()
            #expect(completed == expected)

            clock.set(clock.now().addingTimeInterval(5))
            #expect(
                try await store.completeExport(id: export.id, blobURL: "file:///blobs/e.csv", rowCount: 42) == expected)
            let conflict = await #expect(throws: FolksbaseError.self) {
                try await store.completeExport(id: export.id, blobURL: "file:///blobs/other.csv", rowCount: 42)
            }
            #expect(conflict?.code == .constraint)
            #expect(try await store.failExport(id: export.id, error: "late") == expected)
            #expect(try await store.exportRecord(id: export.id) == expected)
        }
    }

    @Test func failExportRecordsTheErrorAndARetriedRunMayStillComplete() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            let export = try await store.createExport(workspaceID: workspace.id, userID: user.id)

            clock.set(clock.now().addingTimeInterval(5))
            let failedAt = clock.now()
            let failed = try await store.failExport(id: export.id, error: "upload refused")
            #expect(failed.status == .failed)
            #expect(failed.error == "upload refused")
            #expect(failed.completedAt == failedAt)
            #expect(failed.rowCount == nil)
            #expect(failed.blobUrl == nil)

            clock.set(clock.now().addingTimeInterval(5))
            #expect(try await store.failExport(id: export.id, error: "again").completedAt == failedAt)
            let completed = try await store.completeExport(id: export.id, blobURL: "b", rowCount: 0)
            #expect(completed.status == .completed)
            #expect(completed.error == nil)
            #expect(completed.rowCount == 0)

            let missing = await #expect(throws: FolksbaseError.self) {
                try await store.completeExport(id: "exp_missing", blobURL: "b", rowCount: 0)
            }
            #expect(missing?.code == .notFound)
        }
    }

    // MARK: Pages

    /// With `splitPageRows` 4, each page of 5 is read in two halves on two connections.
    @Test(arguments: [5_000, 4])
    func pagesWalkEveryContactOnceOldestFirst(splitPageRows: Int) async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            var store = try makeStore(in: directory, clock: clock)
            store.splitPageRows = splitPageRows
            let (workspace, _) = try await owners(store)
            let before = try await store.createWorkspace(name: "Before")
            let after = try await store.createWorkspace(name: "After")
            // Emails that sort differently as text than by creation; several contacts share a creation time
            // (as the rows of one import chunk do), so pages also break ties inside a millisecond.
            var generator = SeededGenerator(seed: 7)
            let emails = (0..<23).map { "c\($0)@example.com" }.shuffled(using: &generator)
            var added: [Contact] = []
            for (index, email) in emails.enumerated() {
                if index % 4 == 0 { clock.set(clock.now().addingTimeInterval(0.001)) }
                added.append(
                    try await store.addContact(
                        NewContact(email: email, firstName: "In", company: "A, \"B\""), workspaceID: workspace.id))
                for other in [before, after] where index % 8 == 0 {
                    _ = try await store.addContact(NewContact(email: email), workspaceID: other.id)
                }
            }

            var seen: [[String]] = []
            var pages = 0
            var cursor: ContactCursor?
            while true {
                let page = try await store.contactFieldsPage(workspaceID: workspace.id, after: cursor, limit: 5)
                if page.count == 0 {
                    #expect(page.cursor == nil)
                    break
                }
                #expect(page.count <= 5)
                pages += 1
                for row in 0..<page.count {
                    var fields: [String] = []
                    page.forEachField(ofRow: row) { _, bytes in fields.append(String(decoding: bytes, as: UTF8.self)) }
                    seen.append(fields)
                }
                cursor = page.cursor
            }
            #expect(pages == 5)
            let expected = added.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            #expect(seen.map { $0[0] } == expected.map(\.email))
            #expect(seen.allSatisfy { $0 == [$0[0], "In", "", "A, \"B\"", ""] })
            #expect(expected.map(\.email) != emails.sorted())
            #expect(try await store.contactCount(workspaceID: workspace.id) == 23)
            #expect(try await store.contactCount(workspaceID: before.id) == 3)
        }
    }

    @Test func pagesReadTheWorkspaceCreationIndexAlone() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let plan = try await store.connection.read { db in
                try db.fetchAll(
                    "EXPLAIN QUERY PLAN " + SQLiteFolksbaseStore.contactFieldsPageSQL, "ws_x", Int64(0), "",
                    Int64(9), "", 10
                ) { $0.string(at: 3) }
            }
            // One SEARCH line on the index's range, and no "USE TEMP B-TREE FOR ORDER BY".
            #expect(plan.count == 1)
            #expect(plan.first?.contains("USING COVERING INDEX contacts_workspace_created_fields") == true)
            #expect(
                plan.first?.hasSuffix("(workspace_id=? AND (created_at,id)>(?,?) AND (created_at,id)<(?,?))") == true)
            let middle = try await store.connection.read { db in
                try db.fetchAll(
                    "EXPLAIN QUERY PLAN " + SQLiteFolksbaseStore.contactCursorSQL, "ws_x", Int64(0), "", 10
                ) { $0.string(at: 3) }
            }
            #expect(middle.count == 1)
            #expect(middle.first?.contains("USING COVERING INDEX contacts_workspace_created_fields") == true)
        }
    }

    @Test func pagesAndCountsOfAMissingWorkspaceFail() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, _) = try await owners(store)
            #expect(try await store.contactFieldsPage(workspaceID: workspace.id, after: nil, limit: 5).count == 0)
            #expect(try await store.contactCount(workspaceID: workspace.id) == 0)
            let page = await #expect(throws: FolksbaseError.self) {
                try await store.contactFieldsPage(workspaceID: "ws_gone", after: nil, limit: 5)
            }
            #expect(page?.code == .notFound)
            let count = await #expect(throws: FolksbaseError.self) {
                try await store.contactCount(workspaceID: "ws_gone")
            }
            #expect(count?.code == .notFound)
            let negative = await #expect(throws: FolksbaseError.self) {
                try await store.contactFieldsPage(workspaceID: workspace.id, after: nil, limit: -1)
            }
            #expect(negative?.code == .invalidInput)
        }
    }

    /// The halves of a large page are read a moment apart: a contact added or deleted meanwhile in the
    /// first half changes the page's size, and the pages still hold every other contact once.
    @Test(arguments: [false, true])
    func aPageReadInHalvesSkipsNothingWhenItsFirstHalfChanges(adding: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let workspace = try await store.createWorkspace(name: "Acme")
            var added: [Contact] = []
            for number in 1...10 {
                clock.set(clock.now().addingTimeInterval(0.001))
                added.append(
                    try await store.addContact(NewContact(email: "c\(number)@example.com"), workspaceID: workspace.id))
            }
            func cursor(_ contact: Contact) -> ContactCursor {
                ContactCursor(
                    createdAt: Int64((contact.createdAt.timeIntervalSince1970 * 1000).rounded()), id: contact.id)
            }
            // A page of 8 splits after the 4th contact; then, before its halves are read, the first half changes.
            let middle = cursor(added[3])
            var expected = added.map(\.email)
            if adding {
                clock.set(added[1].createdAt)
                _ = try await store.addContact(NewContact(email: "new@example.com"), workspaceID: workspace.id)
                expected = try await Self.emails(of: store, workspaceID: workspace.id)
            } else {
                try await store.connection.transaction { db in
                    try db.execute("DELETE FROM contacts WHERE email = 'c2@example.com'")
                }
                expected.remove(at: 1)
            }
            var page = try await store.contactFieldsPage(
                workspaceID: workspace.id, after: nil, splitAt: middle, limit: 8)
            #expect(page.count == (adding ? 9 : 7))
            var read: [String] = []
            while true {
                for row in 0..<page.count {
                    page.forEachField(ofRow: row) { index, bytes in
                        if index == 0 { read.append(String(decoding: bytes, as: UTF8.self)) }
                    }
                }
                guard page.mayHaveMore else { break }
                page = try await store.contactFieldsPage(workspaceID: workspace.id, after: page.cursor, limit: 8)
            }
            #expect(read == expected)
        }
    }

    private static func emails(of store: SQLiteFolksbaseStore, workspaceID: String) async throws -> [String] {
        try await store.connection.read { db in
            try db.fetchAll("SELECT email FROM contacts WHERE workspace_id = ? ORDER BY created_at, id", workspaceID) {
                $0.string(at: 0)
            }
        }
    }
}

private func owners(_ store: SQLiteFolksbaseStore) async throws -> (Workspace, User) {
    let workspace = try await store.createWorkspace(name: "Acme")
    let user = try await store.createUser(email: "owner@example.com", name: "Owner")
    return (workspace, user)
}

/// SplitMix64, so a shuffled order is the same on every run.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
