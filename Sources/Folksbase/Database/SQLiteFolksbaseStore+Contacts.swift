import Foundation

/// Reading a workspace's contacts in pages, for exports.
extension SQLiteFolksbaseStore {
    public func contactsPage(workspaceID: String, afterEmail: String?, limit: Int) async throws -> [Contact] {
        guard limit >= 0 else { throw FolksbaseError(.invalidInput, "a page limit cannot be negative (got \(limit))") }
        return try await connection.read { db in
            // Stored emails are never empty, so "" starts before the first.
            let page = try db.fetchAll(
                Self.contactsPageSQL, workspaceID, afterEmail ?? "", limit, row: Self.contact(row:))
            if page.isEmpty { try Self.requireWorkspace(workspaceID, db) }
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

    /// The UNIQUE (workspace_id, email) index serves both the range and the order: no sort, no scan.
    static let contactsPageSQL = """
        SELECT \(contactColumns) FROM contacts
        WHERE workspace_id = ? AND email > ?
        ORDER BY email LIMIT ?
        """

    // MARK: Rows

    static let contactColumns = "id, workspace_id, email, first_name, last_name, company, phone, created_at, updated_at"

    static func contact(row: SQLiteStatement) -> Contact {
        Contact(
            id: row.string(at: 0), workspaceId: row.string(at: 1), email: row.string(at: 2),
            firstName: row.optionalString(at: 3), lastName: row.optionalString(at: 4),
            company: row.optionalString(at: 5), phone: row.optionalString(at: 6),
            createdAt: date(milliseconds: row.int64(at: 7)), updatedAt: date(milliseconds: row.int64(at: 8)))
    }
}
