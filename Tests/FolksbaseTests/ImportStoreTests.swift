import Foundation
import SpoolEngine
import TestServers
import Testing

@testable import Folksbase

@Suite struct ImportStoreTests {
    // MARK: Applying chunks

    @Test func countsInsertsAndUpdatesAndKeepsCreationTimes() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock(.utc("2026-11-01T00:00:00Z"))
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            let existing = try await store.addContact(
                NewContact(email: "old@example.com", firstName: "Old", company: "Acme", phone: "+1 555"),
                workspaceID: workspace.id)

            clock.set(.utc("2026-11-02T00:00:00Z"))
            let job = try await newImport(store, workspace, user)
            let result = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 1,
                rows: [
                    row(1, "new1@example.com", first: "New"),
                    row(2, "old@example.com", first: "Renamed", company: "Initech"),
                    row(3, "new2@example.com"),
                ], invalid: [])
            #expect(result == ChunkResult(inserted: 2, updated: 1, skipped: 0, errors: []))

            let contacts = try await storedContacts(store, workspaceID: workspace.id)
            #expect(contacts.map(\.email) == ["new1@example.com", "new2@example.com", "old@example.com"])
            let updated = try #require(contacts.last)
            // Same contact, renamed; a blank field in the file keeps the stored value.
            #expect(
                updated
                    == Contact(
                        id: existing.id, workspaceId: workspace.id, email: "old@example.com", firstName: "Renamed",
                        company: "Initech", phone: "+1 555", createdAt: existing.createdAt,
                        updatedAt: .utc("2026-11-02T00:00:00Z")))
            #expect(contacts[0].createdAt == .utc("2026-11-02T00:00:00Z"))
            #expect(contacts[0].id.hasPrefix("ct_"))
            #expect(contacts[0].firstName == "New")
        }
    }

    /// The store tells inserts from updates by the connection's last insert rowid, which an insert into
    /// another table can leave equal to the next contact's rowid (1 and 1 on a fresh file).
    @Test func insertAndUpdateAreToldApartWhenRowIDsCoincide() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            // imports rowid 1 is the last insert; the first contact gets rowid 1 too.
            let first = try await newImport(store, workspace, user)
            let inserted = try await store.applyImportChunk(
                importID: first.id, workspaceID: workspace.id, chunk: 1, rows: [row(1, "a@example.com")], invalid: [])
            #expect(inserted == ChunkResult(inserted: 1, updated: 0, skipped: 0, errors: []))

            // imports rowid 2 is the last insert; the contact to update is rowid 1, the next new one rowid 2.
            let second = try await newImport(store, workspace, user)
            let mixed = try await store.applyImportChunk(
                importID: second.id, workspaceID: workspace.id, chunk: 1,
                rows: [row(1, "b@example.com"), row(2, "a@example.com")], invalid: [])
            #expect(mixed == ChunkResult(inserted: 1, updated: 1, skipped: 0, errors: []))

            // imports rowid 3 is the last insert, and new contact c gets rowid 3 after the update of b.
            let third = try await newImport(store, workspace, user)
            let updates = try await store.applyImportChunk(
                importID: third.id, workspaceID: workspace.id, chunk: 1,
                rows: [row(1, "b@example.com"), row(2, "c@example.com"), row(3, "a@example.com")], invalid: [])
            #expect(updates == ChunkResult(inserted: 1, updated: 2, skipped: 0, errors: []))
        }
    }

    @Test func duplicatesWithinAChunkAndAcrossChunksAreSkipped() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let job = try await newImport(store, workspace, user)

            let first = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 1,
                rows: [
                    row(1, "a@example.com", first: "First"), row(2, "b@example.com"),
                    row(3, "a@example.com", first: "Second"),
                ], invalid: [])
            #expect(
                first
                    == ChunkResult(
                        inserted: 2, updated: 0, skipped: 1,
                        errors: [RowError(row: 3, reason: "duplicate of row 1", email: "a@example.com")]))

            let second = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 2,
                rows: [row(4, "b@example.com"), row(5, "c@example.com")], invalid: [])
            #expect(
                second
                    == ChunkResult(
                        inserted: 1, updated: 0, skipped: 1,
                        errors: [RowError(row: 4, reason: "duplicate of row 2", email: "b@example.com")]))

            // The first row of a duplicate wins.
            let contacts = try await storedContacts(store, workspaceID: workspace.id)
            #expect(contacts.map(\.email) == ["a@example.com", "b@example.com", "c@example.com"])
            #expect(contacts[0].firstName == "First")
        }
    }

    /// Chunks are read at once and applied in turn: the first row with an email is kept even when
    /// a later chunk is read first.
    @Test func chunksTakingTurnsKeepTheFirstRowOfAnEmailWhicheverIsReadFirst() async throws {
        try await withTwoChunkImport { chunks, importChunk in
            let second = Task { try await importChunk(1) }
            try await waitUntil("the second chunk to wait for its turn") { chunks.turns.isWaiting(1) }
            let first = try await importChunk(0)
            #expect(first == ChunkResult(inserted: 2, updated: 0, skipped: 0, errors: []))
            #expect(
                try await second.value
                    == ChunkResult(
                        inserted: 0, updated: 0, skipped: 1,
                        errors: [RowError(row: 4, reason: "duplicate of row 2", email: "a@example.com")]))
            let contacts = try await storedContacts(chunks.store, workspaceID: chunks.workspaceID)
            #expect(contacts.map(\.firstName) == ["First", nil])
        }
    }

    @Test func aChunkThatFailsBeforeItsTurnLetsTheNextGo() async throws {
        try await withTwoChunkImport { chunks, importChunk in
            try Disk.removeFile(chunks.folder + "/000001.csv")
            let second = Task { try await importChunk(1) }
            try await waitUntil("the second chunk to wait for its turn") { chunks.turns.isWaiting(1) }
            await #expect(throws: SpoolError.self) { try await importChunk(0) }
            try await waitUntil("the second chunk to take its turn") { !chunks.turns.isWaiting(1) }
            #expect(try await second.value == ChunkResult(inserted: 1, updated: 0, skipped: 0, errors: []))
        }
    }

    private struct TwoChunks {
        let store: SQLiteFolksbaseStore
        let workspaceID: String
        let folder: String
        let turns: StepTurns
    }

    /// An import of `a, b, a` in chunks of two rows, each chunk imported with its turn.
    private func withTwoChunkImport(
        _ body: (TwoChunks, _ importChunk: @escaping @Sendable (Int) async throws -> ChunkResult) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let job = try await newImport(store, workspace, user)
            let source = directory + "/in.csv"
            try Data("Email,First Name\na@example.com,First\nb@example.com,\na@example.com,Second\n".utf8)
                .write(to: URL(fileURLWithPath: source))
            var chunker = CSVChunker(writer: DurableWriter())
            chunker.rowsPerChunk = 2
            let folder = directory + "/chunks"
            let plan = try await chunker.chunk(source, into: folder)
            #expect(plan.chunks.count == 2)
            let columns = try ContactColumns(header: plan.header)
            let importer = ContactImporter(store: store, writer: DurableWriter())
            let turns = StepTurns(count: 2)
            let chunks = TwoChunks(store: store, workspaceID: workspace.id, folder: folder, turns: turns)
            try await body(chunks) { index in
                try await importer.importChunk(
                    plan.chunks[index], number: index + 1, folder: folder, columns: columns, record: job,
                    turn: turns.turn(index))
            }
        }
    }

    @Test func reapplyingAChunkReturnsTheRecordedResultAndChangesNothing() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            _ = try await store.addContact(NewContact(email: "old@example.com"), workspaceID: workspace.id)
            let job = try await newImport(store, workspace, user)
            let rows = [
                row(1, "old@example.com", first: "Updated"), row(2, "new@example.com"), row(4, "new@example.com"),
            ]
            let invalid = [RowError(row: 3, reason: "missing email")]

            let first = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 7, rows: rows, invalid: invalid)
            #expect(first.inserted == 1)
            #expect(first.updated == 1)
            #expect(first.skipped == 2)
            let before = try await dumpContacts(store)

            clock.set(clock.now().addingTimeInterval(60))
            let again = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 7, rows: rows, invalid: invalid)
            #expect(again == first)
            #expect(try await dumpContacts(store) == before)

            // The recorded result is keyed by (import, chunk) alone: the rows are not even read again.
            let other = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 7, rows: [row(9, "other@example.com")],
                invalid: [])
            #expect(other == first)
            #expect(try await dumpContacts(store) == before)
        }
    }

    /// A contact keeps only the last import's id; an import's own later rows are duplicates all the same.
    @Test func twoImportsOfOneWorkspaceAtOnceEachSkipTheirOwnDuplicates() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let one = try await newImport(store, workspace, user)
            let two = try await newImport(store, workspace, user)
            func apply(_ job: ImportRecord, chunk: Int, _ rows: [ContactRow]) async throws -> ChunkResult {
                try await store.applyImportChunk(
                    importID: job.id, workspaceID: workspace.id, chunk: chunk, rows: rows, invalid: [])
            }

            #expect(try await apply(one, chunk: 1, [row(1, "a@example.com", first: "One")]).inserted == 1)
            #expect(try await apply(two, chunk: 1, [row(1, "a@example.com", first: "Two")]).updated == 1)
            let oneLater = try await apply(one, chunk: 2, [row(7, "a@example.com", first: "One again")])
            #expect(
                oneLater
                    == ChunkResult(
                        inserted: 0, updated: 0, skipped: 1,
                        errors: [RowError(row: 7, reason: "duplicate of row 1", email: "a@example.com")]))
            let twoLater = try await apply(two, chunk: 2, [row(9, "a@example.com", first: "Two again")])
            #expect(twoLater.skipped == 1 && twoLater.errors.first?.reason == "duplicate of row 1")
            #expect(try await storedContacts(store, workspaceID: workspace.id).map(\.firstName) == ["Two"])

            _ = try await store.completeImport(
                id: one.id, totalRows: 2, inserted: 1, updated: 0, skipped: 1, errorLog: [], errorCount: 1)
            let notes = try await SQLiteConnection(path: directory + "/folksbase.sqlite").read { db in
                try db.fetchAll("SELECT import_id FROM import_overwritten") { $0.string(at: 0) }
            }
            #expect(notes.isEmpty, "a completed import's notes are gone: \(notes)")
        }
    }

    @Test func aLaterImportOfTheSameEmailsUpdatesThem() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let rows = [row(1, "a@example.com", first: "A"), row(2, "b@example.com", first: "B")]

            let earlier = try await newImport(store, workspace, user)
            let first = try await store.applyImportChunk(
                importID: earlier.id, workspaceID: workspace.id, chunk: 1, rows: rows, invalid: [])
            #expect(first == ChunkResult(inserted: 2, updated: 0, skipped: 0, errors: []))

            let later = try await newImport(store, workspace, user)
            var renamed = rows
            renamed[0].contact.firstName = "Alice"
            let second = try await store.applyImportChunk(
                importID: later.id, workspaceID: workspace.id, chunk: 1, rows: renamed, invalid: [])
            #expect(second == ChunkResult(inserted: 0, updated: 2, skipped: 0, errors: []))
            let contacts = try await storedContacts(store, workspaceID: workspace.id)
            #expect(contacts.map(\.firstName) == ["Alice", "B"])
        }
    }

    @Test func invalidRowsAreSkippedAndErrorsAreSortedByRow() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let job = try await newImport(store, workspace, user)

            let result = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 1,
                rows: [row(1, "a@example.com"), row(3, "b@example.com"), row(4, "a@example.com")],
                invalid: [
                    RowError(row: 5, reason: "invalid email \"x\"", email: "x"),
                    RowError(row: 2, reason: "missing email"),
                ])
            #expect(
                result
                    == ChunkResult(
                        inserted: 2, updated: 0, skipped: 3,
                        errors: [
                            RowError(row: 2, reason: "missing email"),
                            RowError(row: 4, reason: "duplicate of row 1", email: "a@example.com"),
                            RowError(row: 5, reason: "invalid email \"x\"", email: "x"),
                        ]))
            #expect(try await store.contactCount(workspaceID: workspace.id) == 2)
        }
    }

    @Test func storedErrorsAreCappedButCountedInFull() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let job = try await newImport(store, workspace, user)
            let invalid = (1...600).reversed().map { RowError(row: $0, reason: "missing email") }

            let result = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 1, rows: [], invalid: invalid)
            #expect(result.skipped == 600)
            #expect(result.errors.map(\.row) == Array(1...SQLiteFolksbaseStore.chunkErrorLimit))
            let again = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 1, rows: [], invalid: invalid)
            #expect(again == result)
        }
    }

    @Test func workspacesAreIsolated() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (first, user) = try await owners(store)
            let second = try await store.createWorkspace(name: "Second")
            let firstImport = try await newImport(store, first, user)
            let secondImport = try await newImport(store, second, user)
            let rows = [row(1, "same@example.com")]

            let a = try await store.applyImportChunk(
                importID: firstImport.id, workspaceID: first.id, chunk: 1, rows: rows, invalid: [])
            let b = try await store.applyImportChunk(
                importID: secondImport.id, workspaceID: second.id, chunk: 1, rows: rows, invalid: [])
            #expect(a.inserted == 1)
            #expect(b.inserted == 1)
            let inFirst = try await storedContacts(store, workspaceID: first.id)
            let inSecond = try await storedContacts(store, workspaceID: second.id)
            #expect(inFirst.count == 1)
            #expect(inSecond.count == 1)
            #expect(inFirst.first?.id != inSecond.first?.id)

            let mismatch = await #expect(throws: FolksbaseError.self) {
                try await store.applyImportChunk(
                    importID: firstImport.id, workspaceID: second.id, chunk: 2, rows: rows, invalid: [])
            }
            #expect(mismatch?.code == .invalidInput)
            #expect(mismatch?.message.contains(first.id) == true)
        }
    }

    @Test func chunksOfMissingOrCompletedImportsAreRefused() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let missing = await #expect(throws: FolksbaseError.self) {
                try await store.applyImportChunk(
                    importID: "imp_missing", workspaceID: workspace.id, chunk: 1, rows: [], invalid: [])
            }
            #expect(missing?.code == .notFound)

            let job = try await newImport(store, workspace, user)
            let applied = try await store.applyImportChunk(
                importID: job.id, workspaceID: workspace.id, chunk: 1, rows: [row(1, "a@example.com")], invalid: [])
            _ = try await store.completeImport(
                id: job.id, totalRows: 1, inserted: 1, updated: 0, skipped: 0, errorLog: [], errorCount: 0)
            // A recorded chunk still answers (a step re-run after finalize); a new one is refused.
            #expect(
                try await store.applyImportChunk(
                    importID: job.id, workspaceID: workspace.id, chunk: 1, rows: [], invalid: []) == applied)
            let late = await #expect(throws: FolksbaseError.self) {
                try await store.applyImportChunk(
                    importID: job.id, workspaceID: workspace.id, chunk: 2, rows: [row(2, "b@example.com")],
                    invalid: [])
            }
            #expect(late?.code == .constraint)
            #expect(try await store.contactCount(workspaceID: workspace.id) == 1)
        }
    }

    // MARK: Records and their life cycle

    @Test func createsAndListsImports() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            let other = try await store.createWorkspace(name: "Other")

            let first = try await store.createImport(
                workspaceID: workspace.id, userID: user.id, blobURL: "file:///blobs/a.csv", fileName: "a.csv",
                columnMapping: ["E-mail": "email", "Vorname": "firstName"])
            clock.set(clock.now().addingTimeInterval(1))
            let second = try await store.createImport(
                workspaceID: other.id, userID: user.id, blobURL: "file:///blobs/b.csv", fileName: "b.csv",
                columnMapping: nil)
            clock.set(clock.now().addingTimeInterval(1))
            let third = try await store.createImport(
                workspaceID: workspace.id, userID: user.id, blobURL: "file:///blobs/c.csv", fileName: "c.csv",
                columnMapping: [:])

            #expect(first.id.hasPrefix("imp_"))
            #expect(
                first
                    == ImportRecord(
                        id: first.id, workspaceId: workspace.id, userId: user.id, status: .processing,
                        blobUrl: "file:///blobs/a.csv", fileName: "a.csv",
                        columnMapping: ["E-mail": "email", "Vorname": "firstName"], createdAt: clock.now() - 2))
            #expect(try await store.importRecord(id: first.id) == first)
            #expect(try await store.importRecord(id: second.id)?.columnMapping == nil)
            #expect(try await store.importRecord(id: third.id)?.columnMapping == [:])
            #expect(try await store.importRecord(id: "imp_missing") == nil)
            #expect(try await store.imports(workspaceID: workspace.id) == [third, first])
            #expect(try await store.imports(workspaceID: nil) == [third, second, first])
        }
    }

    @Test func createImportNamesWhatIsMissing() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let (workspace, user) = try await owners(store)
            let noWorkspace = await #expect(throws: FolksbaseError.self) {
                try await store.createImport(
                    workspaceID: "ws_gone", userID: user.id, blobURL: "b", fileName: "f.csv", columnMapping: nil)
            }
            #expect(noWorkspace?.code == .notFound)
            #expect(noWorkspace?.message.contains("workspace ws_gone") == true)

            let noUser = await #expect(throws: FolksbaseError.self) {
                try await store.createImport(
                    workspaceID: workspace.id, userID: "usr_gone", blobURL: "b", fileName: "f.csv", columnMapping: nil)
            }
            #expect(noUser?.code == .notFound)
            #expect(noUser?.message.contains("user usr_gone") == true)

            let badMapping = await #expect(throws: FolksbaseError.self) {
                try await store.createImport(
                    workspaceID: workspace.id, userID: user.id, blobURL: "b", fileName: "f.csv",
                    columnMapping: ["Mail": "e_mail"])
            }
            #expect(badMapping?.code == .invalidInput)
            #expect(try await store.imports(workspaceID: nil).isEmpty)
        }
    }

    @Test func completeImportOnlyOnceAndFailImportNeverUndoesIt() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            let job = try await newImport(store, workspace, user)
            let log = [RowError(row: 2, reason: "missing email"), RowError(row: 9, reason: "duplicate of row 1")]

            clock.set(clock.now().addingTimeInterval(5))
            let completed = try await store.completeImport(
                id: job.id, totalRows: 10, inserted: 6, updated: 2, skipped: 2, errorLog: log, errorCount: 2)
            var expected = job
            expected.status = .completed
            (expected.totalRows, expected.inserted, expected.updated, expected.skipped) = (10, 6, 2, 2)
            expected.errorLog = log
            expected.errorCount = 2
            expected.completedAt = clock.now()
            #expect(completed == expected)
            #expect(try await store.importRecord(id: job.id) == expected)

            // A re-run of finalize with the same numbers is fine; other numbers are a conflict.
            clock.set(clock.now().addingTimeInterval(5))
            #expect(
                try await store.completeImport(
                    id: job.id, totalRows: 10, inserted: 6, updated: 2, skipped: 2, errorLog: log, errorCount: 2)
                    == expected)
            let conflict = await #expect(throws: FolksbaseError.self) {
                try await store.completeImport(
                    id: job.id, totalRows: 10, inserted: 7, updated: 1, skipped: 2, errorLog: log, errorCount: 2)
            }
            #expect(conflict?.code == .constraint)

            #expect(try await store.failImport(id: job.id, error: "late failure") == expected)
            #expect(try await store.importRecord(id: job.id) == expected)

            let missing = await #expect(throws: FolksbaseError.self) {
                try await store.failImport(id: "imp_missing", error: "x")
            }
            #expect(missing?.code == .notFound)
        }
    }

    @Test func failImportRecordsTheErrorAndARetriedRunMayStillComplete() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let (workspace, user) = try await owners(store)
            let job = try await newImport(store, workspace, user)

            clock.set(clock.now().addingTimeInterval(5))
            let failedAt = clock.now()
            let failed = try await store.failImport(id: job.id, error: "blob not found")
            #expect(failed.status == .failed)
            #expect(failed.error == "blob not found")
            #expect(failed.completedAt == failedAt)
            #expect(failed.totalRows == nil)

            clock.set(clock.now().addingTimeInterval(5))
            let again = try await store.failImport(id: job.id, error: "still not found")
            #expect(again.error == "still not found")
            #expect(again.completedAt == failedAt)

            // `spool retry` resumes the run at the failed step; its finalize completes the import.
            let completed = try await store.completeImport(
                id: job.id, totalRows: 0, inserted: 0, updated: 0, skipped: 0, errorLog: [], errorCount: 0)
            #expect(completed.status == .completed)
            #expect(completed.error == nil)
            #expect(completed.completedAt == clock.now())
            #expect(completed.totalRows == 0)
        }
    }

    // MARK: Migration

    @Test func migratesADatabaseOfSchemaVersionOne() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/folksbase.sqlite"
            let time = SQLiteFolksbaseStore.milliseconds(.utc("2026-11-01T00:00:00Z"))
            do {
                let connection = try SQLiteConnection(path: path)
                try await connection.transaction { db in
                    try db.executeScript(Schema.migrations[0])
                    try db.executeScript("PRAGMA user_version = 1")
                    try db.execute("INSERT INTO workspaces (id, name, created_at) VALUES ('ws_1', 'W', ?)", time)
                    try db.execute(
                        "INSERT INTO users (id, email, name, created_at) VALUES ('usr_1', 'u@example.com', 'U', ?)",
                        time)
                    try db.execute(
                        """
                        INSERT INTO contacts (id, workspace_id, email, first_name, created_at, updated_at)
                        VALUES ('ct_1', 'ws_1', 'a@example.com', 'Ada', ?, ?)
                        """, time, time)
                    try db.execute(
                        """
                        INSERT INTO imports (id, workspace_id, user_id, status, blob_url, file_name, total_rows,
                            inserted, created_at, completed_at)
                        VALUES ('imp_old', 'ws_1', 'usr_1', 'completed', 'b', 'old.csv', 1, 1, ?, ?)
                        """, time, time)
                }
            }

            let store = try SQLiteFolksbaseStore(path: path, clock: ManualClock())
            #expect(try await userVersion(store) == 5)
            #expect(Schema.version == 5)
            let page = try await store.contactFieldsPage(workspaceID: "ws_1", after: nil, limit: 10)
            #expect(page.count == 1 && page.cursor == ContactCursor(createdAt: time, id: "ct_1"))
            let old = try #require(try await store.importRecord(id: "imp_old"))
            #expect(old.status == .completed)
            #expect(old.totalRows == 1)
            #expect(old.errorCount == 0)
            #expect(old.columnMapping == [:])

            // A contact from before the migration has no import, so an import updates it.
            let job = try await store.createImport(
                workspaceID: "ws_1", userID: "usr_1", blobURL: "b", fileName: "new.csv", columnMapping: nil)
            let result = try await store.applyImportChunk(
                importID: job.id, workspaceID: "ws_1", chunk: 1, rows: [row(1, "a@example.com", first: "Ada L.")],
                invalid: [])
            #expect(result == ChunkResult(inserted: 0, updated: 1, skipped: 0, errors: []))

            let before = try await dumpContacts(store)
            let reopened = try SQLiteFolksbaseStore(path: path)
            #expect(try await userVersion(reopened) == 5)
            #expect(try await dumpContacts(reopened) == before)
            #expect(try await reopened.importRecord(id: job.id) == job)
        }
    }

    @Test func aFreshFileIsAtTheLatestVersion() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            #expect(try await userVersion(store) == 5)
            let indexes = try await store.connection.read { db in
                try db.fetchAll(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' AND sql IS NOT NULL"
                ) { $0.string(at: 0) }
            }
            #expect(indexes == ["contacts_workspace_created_fields"])
            let columns = try await store.connection.read { db in
                try db.fetchAll("SELECT name FROM pragma_table_info('contacts') ORDER BY cid") { $0.string(at: 0) }
            }
            #expect(columns.suffix(2) == ["import_id", "import_row"])
            let chunkTable = try await store.connection.read { db in
                try db.fetchOne("SELECT count(*) FROM sqlite_master WHERE name = 'import_chunks'") { $0.int64(at: 0) }
            }
            #expect(chunkTable == 1)
        }
    }
}

// MARK: Fixtures

private func owners(_ store: SQLiteFolksbaseStore) async throws -> (Workspace, User) {
    let workspace = try await store.createWorkspace(name: "Acme")
    let user = try await store.createUser(email: "owner@example.com", name: "Owner")
    return (workspace, user)
}

private func newImport(
    _ store: SQLiteFolksbaseStore, _ workspace: Workspace, _ user: User
) async throws -> ImportRecord {
    try await store.createImport(
        workspaceID: workspace.id, userID: user.id, blobURL: "file:///blobs/contacts.csv", fileName: "contacts.csv",
        columnMapping: nil)
}

private func row(_ number: Int, _ email: String, first: String? = nil, company: String? = nil) -> ContactRow {
    ContactRow(row: number, contact: NewContact(email: email, firstName: first, company: company))
}

private func userVersion(_ store: SQLiteFolksbaseStore) async throws -> Int64? {
    try await store.connection.read { db in try db.fetchOne("PRAGMA user_version") { $0.int64(at: 0) } }
}

/// Every column of every contact, in a stable order.
private func dumpContacts(_ store: SQLiteFolksbaseStore) async throws -> [[String?]] {
    try await store.connection.read { db in
        try db.fetchAll("SELECT * FROM contacts ORDER BY workspace_id, email") { row in
            (0..<row.columnCount).map { row.optionalString(at: $0) }
        }
    }
}
