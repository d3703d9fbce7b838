import Foundation

/// Reading a workspace's contacts in pages, for exports.
extension SQLiteFolksbaseStore {
    public func contactFieldsPage(workspaceID: String, after cursor: ContactCursor?, limit: Int) async throws
        -> ContactFieldsPage
    {
        guard limit >= 0 else { throw FolksbaseError(.invalidInput, "a page limit cannot be negative (got \(limit))") }
        return try await connection.read { db in
            var page = ContactFieldsPage(capacity: limit)
            let statement = try db.statement(Self.contactFieldsPageSQL)
            defer { statement.reset() }
            // Ids are never empty, so "" starts before the first contact created at the cursor's time.
            try statement.bind([workspaceID, cursor?.createdAt ?? Int64.min, cursor?.id ?? "", Int64(limit)])
            // The cursor is the last row's: its id is kept as bytes and made a String once.
            var lastCreatedAt: Int64 = 0
            var lastID: [UInt8] = []
            while try statement.step() {
                page.append { index, bytes in statement.appendText(at: index, to: &bytes) }
                lastCreatedAt = statement.int64(at: 5)
                lastID.removeAll(keepingCapacity: true)
                statement.appendText(at: 6, to: &lastID)
            }
            if page.count > 0 {
                page.cursor = ContactCursor(createdAt: lastCreatedAt, id: String(decoding: lastID, as: UTF8.self))
            }
            if page.count == 0 { try Self.requireWorkspace(workspaceID, db) }
            return page
        }
    }

    public func contactCount(workspaceID: String) async throws -> Int {
        try await connection.read { db in
            let count = try db.fetchOne("SELECT count(*) FROM contacts WHERE workspace_id = ?", workspaceID) {
                Int($0.int64(at: 0))
            }
            if count == 0 { try Self.requireWorkspace(workspaceID, db) }
            return count ?? 0
        }
    }

    /// The (workspace_id, created_at, id) index serves both the range and the order: no sort, no scan;
    /// and contacts created together sit together in the table, so the rows are read nearly in order.
    static let contactFieldsPageSQL = """
        SELECT email, first_name, last_name, company, phone, created_at, id FROM contacts
        WHERE workspace_id = ?1 AND (created_at, id) > (?2, ?3)
        ORDER BY created_at, id LIMIT ?4
        """
}
