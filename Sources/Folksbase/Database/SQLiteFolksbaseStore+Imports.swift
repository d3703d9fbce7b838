import Foundation

/// CSV imports: their records, and applying each chunk of rows exactly once.
extension SQLiteFolksbaseStore {
    /// The most row errors one chunk's result keeps; `ChunkResult.skipped` still counts them all.
    public static let chunkErrorLimit = 500

    public func createImport(
        workspaceID: String, userID: String, blobURL: String, fileName: String, columnMapping: [String: String]?
    ) async throws -> ImportRecord {
        if let problem = columnMapping.flatMap(ContactColumns.problem(inMapping:)) {
            throw FolksbaseError(.invalidInput, problem)
        }
        let record = ImportRecord(
            id: RecordID.make(RecordID.importJob), workspaceId: workspaceID, userId: userID, status: .processing,
            blobUrl: blobURL, fileName: fileName, columnMapping: columnMapping, createdAt: now())
        let mapping = try Self.json(columnMapping)
        try await connection.transaction { db in
            try Self.requireJobOwners(workspaceID: workspaceID, userID: userID, job: "an import", db)
            try db.execute(
                """
                INSERT INTO imports (id, workspace_id, user_id, status, blob_url, file_name, column_mapping, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, record.id, workspaceID, userID, record.status.rawValue, blobURL, fileName, mapping,
                Self.milliseconds(record.createdAt))
        }
        return record
    }

    public func importRecord(id: String) async throws -> ImportRecord? {
        try await connection.read { db in try Self.importRecord(id: id, db) }
    }

    public func imports(workspaceID: String?) async throws -> [ImportRecord] {
        try await connection.read { db in
            if let workspaceID {
                return try db.fetchAll(
                    "SELECT \(Self.importColumns) FROM imports WHERE workspace_id = ? ORDER BY created_at DESC, id DESC",
                    workspaceID, row: Self.importRecord(row:))
            }
            return try db.fetchAll(
                "SELECT \(Self.importColumns) FROM imports ORDER BY created_at DESC, id DESC",
                row: Self.importRecord(row:))
        }
    }

    public func applyImportChunk(
        importID: String, workspaceID: String, chunk: Int, rows: [ContactRow], invalid: [RowError],
        whenQueued: @escaping @Sendable () -> Void
    ) async throws -> ChunkResult {
        let time = Self.milliseconds(now())
        return try await chunkTransactions.run(whenQueued: whenQueued) { db in
            if let recorded = try db.fetchOne(
                "SELECT result FROM import_chunks WHERE import_id = ? AND chunk = ?", importID, chunk,
                row: { $0.string(at: 0) })
            {
                return try Self.decode(ChunkResult.self, recorded)
            }
            let owner = try db.fetchOne("SELECT workspace_id, status FROM imports WHERE id = ?", importID) {
                (workspaceID: $0.string(at: 0), status: $0.string(at: 1))
            }
            guard let owner else { throw FolksbaseError(.notFound, "import \(importID) does not exist") }
            guard owner.workspaceID == workspaceID else {
                throw FolksbaseError(
                    .invalidInput,
                    "import \(importID) belongs to workspace \(owner.workspaceID), not \(workspaceID)")
            }
            guard owner.status != JobStatus.completed.rawValue else {
                throw FolksbaseError(
                    .constraint, "import \(importID) is completed already; chunk \(chunk) cannot be applied to it")
            }
            let result = try Self.upsert(rows, invalid: invalid, importID: importID, workspaceID: workspaceID, time, db)
            try db.execute(
                "INSERT INTO import_chunks (import_id, chunk, result, created_at) VALUES (?, ?, ?, ?)", importID,
                chunk, try Self.json(result), time)
            return result
        }
    }

    public func completeImport(
        id: String, totalRows: Int, inserted: Int, updated: Int, skipped: Int, errorLog: [RowError], errorCount: Int
    ) async throws -> ImportRecord {
        guard [totalRows, inserted, updated, skipped, errorCount].allSatisfy({ $0 >= 0 }) else {
            throw FolksbaseError(.invalidInput, "import \(id) cannot complete with a negative count")
        }
        let time = Self.milliseconds(now())
        let log = try Self.json(errorLog)
        return try await connection.transaction { db in
            let record = try Self.requireImport(id: id, db)
            switch record.status {
            case .completed:
                let counts = [totalRows, inserted, updated, skipped, errorCount]
                let stored = [record.totalRows, record.inserted, record.updated, record.skipped, record.errorCount]
                guard stored == counts, record.errorLog == errorLog else {
                    throw FolksbaseError(
                        .constraint,
                        "import \(id) was completed already with other counts (total, inserted, updated, skipped, "
                            + "errors: \(stored.map { String($0 ?? 0) }.joined(separator: ", ")))")
                }
                return record
            case .processing, .failed:
                try db.execute(
                    """
                    UPDATE imports SET status = 'completed', total_rows = ?, inserted = ?, updated = ?, skipped = ?,
                        error_log = ?, error_count = ?, error = NULL, completed_at = ?
                    WHERE id = ?
                    """, totalRows, inserted, updated, skipped, log, errorCount, time, id)
                try db.execute("DELETE FROM import_overwritten WHERE import_id = ?", id)
                return try Self.requireImport(id: id, db)
            }
        }
    }

    public func failImport(id: String, error: String) async throws -> ImportRecord {
        let time = Self.milliseconds(now())
        return try await connection.transaction { db in
            let record = try Self.requireImport(id: id, db)
            switch record.status {
            case .completed:
                return record
            case .processing, .failed:
                // A repeated failure keeps the time of the first: that is when the import stopped.
                try db.execute(
                    "UPDATE imports SET status = 'failed', error = ?, completed_at = coalesce(completed_at, ?) WHERE id = ?",
                    error, time, id)
                return try Self.requireImport(id: id, db)
            }
        }
    }

    // MARK: Chunks

    /// Inserts new contacts and updates those an earlier import (or `addContact`) wrote; a contact this
    /// import wrote already is left alone and its row reported as a duplicate.
    ///
    /// Parameters 2, 8 and 9 are the same for every row, so they are bound once per chunk.
    private static let upsertSQL = """
        INSERT INTO contacts (id, workspace_id, email, first_name, last_name, company, phone, created_at, updated_at,
            import_id, import_row)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
        ON CONFLICT (workspace_id, email) DO UPDATE SET
            first_name = coalesce(excluded.first_name, contacts.first_name),
            last_name = coalesce(excluded.last_name, contacts.last_name),
            company = coalesce(excluded.company, contacts.company),
            phone = coalesce(excluded.phone, contacts.phone),
            updated_at = excluded.updated_at, import_id = excluded.import_id, import_row = excluded.import_row
        WHERE contacts.import_id IS NOT excluded.import_id
        """

    private static func upsert(
        _ rows: [ContactRow], invalid: [RowError], importID: String, workspaceID: String, _ time: Int64,
        _ db: SQLiteConnection.Session
    ) throws -> ChunkResult {
        var inserted = 0
        var updated = 0
        var duplicates: [RowError] = []
        let concurrent = try ConcurrentImports(importID: importID, workspaceID: workspaceID, db)
        let statement = try db.statement(upsertSQL)
        defer { statement.reset() }
        try statement.bind(workspaceID, at: 2)
        try statement.bind(time, at: 8)
        try statement.bind(importID, at: 9)
        // What each row did, without RETURNING (which costs about a third more per row): a refused update
        // changes nothing; an insert moves the connection's last insert rowid and an update does not. The
        // rowid may repeat (the previous insert was into another table, or its row is gone), so an
        // unmoved rowid is confirmed by looking up the id just bound.
        var lastRowID = db.lastInsertRowID
        var random = BufferedSystemRandomNumberGenerator()
        for row in rows {
            let contact = row.contact
            assert(contact.email == StoredEmail.normalize(contact.email), "the caller normalizes emails")
            if let first = concurrent.rowOverwritten(email: contact.email) {
                duplicates.append(duplicate(row, of: first))
                continue
            }
            try concurrent.noteOverwrite(email: contact.email)
            let id = RecordID.make(RecordID.contact, using: &random)
            try statement.bind(id, at: 1)
            try statement.bind(contact.email, at: 3)
            try bind(contact.firstName, at: 4, statement)
            try bind(contact.lastName, at: 5, statement)
            try bind(contact.company, at: 6, statement)
            try bind(contact.phone, at: 7, statement)
            try statement.bind(Int64(row.row), at: 10)
            try statement.run()
            let rowID = db.lastInsertRowID
            if db.changes == 0 {
                duplicates.append(duplicate(row, of: try firstRow(of: contact.email, workspaceID: workspaceID, db)))
            } else if try rowID != lastRowID || isContact(id, at: rowID, db) {
                inserted += 1
            } else {
                updated += 1
            }
            lastRowID = rowID
        }
        let errors = (invalid + duplicates).enumerated()
            .sorted { ($0.element.row, $0.offset) < ($1.element.row, $1.offset) }
            .prefix(chunkErrorLimit).map(\.element)
        return ChunkResult(
            inserted: inserted, updated: updated, skipped: invalid.count + duplicates.count, errors: errors)
    }

    private static func bind(_ value: String?, at index: Int32, _ statement: SQLiteStatement) throws {
        if let value { try statement.bind(value, at: index) } else { try statement.bindNull(at: index) }
    }

    private static func isContact(_ id: String, at rowID: Int64, _ db: SQLiteConnection.Session) throws -> Bool {
        try db.fetchOne("SELECT id = ? FROM contacts WHERE rowid = ?", id, rowID) { $0.int64(at: 0) != 0 } ?? false
    }

    /// The import row that wrote `email`'s contact last, if it came from an import.
    private static func firstRow(of email: String, workspaceID: String, _ db: SQLiteConnection.Session) throws
        -> Int64?
    {
        try db.fetchOne("SELECT import_row FROM contacts WHERE workspace_id = ? AND email = ?", workspaceID, email) {
            $0.optionalInt64(at: 0)
        } ?? nil
    }

    private static func duplicate(_ row: ContactRow, of first: Int64?) -> RowError {
        let reason = first.map { "duplicate of row \($0)" } ?? "duplicate of an earlier row"
        return RowError(row: row.row, reason: reason, email: row.contact.email)
    }

    // MARK: Rows

    static func requireJobOwners(
        workspaceID: String, userID: String, job: String, _ db: SQLiteConnection.Session
    ) throws {
        guard try db.fetchOne("SELECT 1 FROM workspaces WHERE id = ?", workspaceID, row: { _ in true }) != nil else {
            throw FolksbaseError(.notFound, "cannot create \(job): workspace \(workspaceID) does not exist")
        }
        guard try db.fetchOne("SELECT 1 FROM users WHERE id = ?", userID, row: { _ in true }) != nil else {
            throw FolksbaseError(.notFound, "cannot create \(job): user \(userID) does not exist")
        }
    }

    private static func requireImport(id: String, _ db: SQLiteConnection.Session) throws -> ImportRecord {
        guard let record = try importRecord(id: id, db) else {
            throw FolksbaseError(.notFound, "import \(id) does not exist")
        }
        return record
    }

    private static func importRecord(id: String, _ db: SQLiteConnection.Session) throws -> ImportRecord? {
        try db.fetchOne("SELECT \(importColumns) FROM imports WHERE id = ?", id, row: importRecord(row:))
    }

    private static let importColumns = """
        id, workspace_id, user_id, status, blob_url, file_name, column_mapping, total_rows, inserted, updated, skipped,
        error_log, error_count, error, created_at, completed_at
        """

    /// An import row; its counts read as nil until it completes.
    private static func importRecord(row: SQLiteStatement) throws -> ImportRecord {
        let status = try jobStatus(row.string(at: 3), table: "imports")
        let count = { (column: Int32) in status == .completed ? Int(row.int64(at: column)) : nil }
        return ImportRecord(
            id: row.string(at: 0), workspaceId: row.string(at: 1), userId: row.string(at: 2), status: status,
            blobUrl: row.string(at: 4), fileName: row.string(at: 5),
            columnMapping: try decode([String: String]?.self, row.string(at: 6)), totalRows: count(7),
            inserted: count(8), updated: count(9), skipped: count(10),
            errorLog: try decode([RowError].self, row.string(at: 11)), errorCount: count(12),
            error: row.optionalString(at: 13), createdAt: date(milliseconds: row.int64(at: 14)),
            completedAt: row.optionalInt64(at: 15).map(date(milliseconds:)))
    }

    // MARK: Values

    static func jobStatus(_ text: String, table: String) throws -> JobStatus {
        guard let status = JobStatus(rawValue: text) else {
            throw FolksbaseError(.database, "\(table) has a row with unknown status \"\(text)\"")
        }
        return status
    }

    /// A value as the JSON text the schema stores, with sorted keys so equal values store equal text.
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw FolksbaseError(
                .database, "stored JSON \(FolksbaseError.firstWords(of: text)) does not decode: \(error)",
                cause: error)
        }
    }
}
