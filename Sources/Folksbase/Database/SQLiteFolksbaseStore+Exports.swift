import Foundation

/// CSV exports: their records and their life cycle.
extension SQLiteFolksbaseStore {
    public func createExport(workspaceID: String, userID: String) async throws -> ExportRecord {
        let record = ExportRecord(
            id: RecordID.make(RecordID.exportJob), workspaceId: workspaceID, userId: userID, status: .processing,
            createdAt: now())
        try await connection.transaction { db in
            try Self.requireJobOwners(workspaceID: workspaceID, userID: userID, job: "an export", db)
            try db.execute(
                "INSERT INTO exports (id, workspace_id, user_id, status, created_at) VALUES (?, ?, ?, ?, ?)",
                record.id, workspaceID, userID, record.status.rawValue, Self.milliseconds(record.createdAt))
        }
        return record
    }

    public func exportRecord(id: String) async throws -> ExportRecord? {
        try await connection.read { db in try Self.exportRecord(id: id, db) }
    }

    public func exports(workspaceID: String?) async throws -> [ExportRecord] {
        try await connection.read { db in
            if let workspaceID {
                return try db.fetchAll(
                    "SELECT \(Self.exportColumns) FROM exports WHERE workspace_id = ? ORDER BY created_at DESC, id DESC",
                    workspaceID, row: Self.exportRecord(row:))
            }
            return try db.fetchAll(
                "SELECT \(Self.exportColumns) FROM exports ORDER BY created_at DESC, id DESC",
                row: Self.exportRecord(row:))
        }
    }

    public func completeExport(id: String, blobURL: String, rowCount: Int) async throws -> ExportRecord {
        guard rowCount >= 0 else {
            throw FolksbaseError(.invalidInput, "export \(id) cannot complete with a negative row count")
        }
        let time = Self.milliseconds(now())
        return try await connection.transaction { db in
            let record = try Self.requireExport(id: id, db)
            switch record.status {
            case .completed:
                guard record.blobUrl == blobURL, record.rowCount == rowCount else {
                    throw FolksbaseError(
                        .constraint,
                        "export \(id) was completed already as \(record.blobUrl ?? "?") "
                            + "with \(record.rowCount ?? 0) rows")
                }
                return record
            case .processing, .failed:
                try db.execute(
                    """
                    UPDATE exports SET status = 'completed', blob_url = ?, row_count = ?, error = NULL, completed_at = ?
                    WHERE id = ?
                    """, blobURL, rowCount, time, id)
                return try Self.requireExport(id: id, db)
            }
        }
    }

    public func failExport(id: String, error: String) async throws -> ExportRecord {
        let time = Self.milliseconds(now())
        return try await connection.transaction { db in
            let record = try Self.requireExport(id: id, db)
            switch record.status {
            case .completed:
                return record
            case .processing, .failed:
                // A repeated failure keeps the time of the first: that is when the export stopped.
                try db.execute(
                    "UPDATE exports SET status = 'failed', error = ?, completed_at = coalesce(completed_at, ?) WHERE id = ?",
                    error, time, id)
                return try Self.requireExport(id: id, db)
            }
        }
    }

    // MARK: Rows

    private static func requireExport(id: String, _ db: SQLiteConnection.Session) throws -> ExportRecord {
        guard let record = try exportRecord(id: id, db) else {
            throw FolksbaseError(.notFound, "export \(id) does not exist")
        }
        return record
    }

    private static func exportRecord(id: String, _ db: SQLiteConnection.Session) throws -> ExportRecord? {
        try db.fetchOne("SELECT \(exportColumns) FROM exports WHERE id = ?", id, row: exportRecord(row:))
    }

    private static let exportColumns =
        "id, workspace_id, user_id, status, blob_url, row_count, error, created_at, completed_at"

    /// An export row; its row count reads as nil until it completes.
    private static func exportRecord(row: SQLiteStatement) throws -> ExportRecord {
        let status = try jobStatus(row.string(at: 3), table: "exports")
        return ExportRecord(
            id: row.string(at: 0), workspaceId: row.string(at: 1), userId: row.string(at: 2), status: status,
            blobUrl: row.optionalString(at: 4), rowCount: status == .completed ? Int(row.int64(at: 5)) : nil,
            error: row.optionalString(at: 6), createdAt: date(milliseconds: row.int64(at: 7)),
            completedAt: row.optionalInt64(at: 8).map(date(milliseconds:)))
    }
}
