import Foundation

/// What the weekly digest reads.
extension SQLiteFolksbaseStore {
    public func digestWorkspaces() async throws -> [Workspace] {
        try await connection.read { db in
            try db.fetchAll(
                """
                SELECT w.id, w.name, w.created_at FROM workspaces w
                LEFT JOIN workspace_settings s ON s.workspace_id = w.id
                WHERE coalesce(s.weekly_digest, 1) = 1
                ORDER BY w.created_at, w.id
                """, row: Self.workspace(row:))
        }
    }

    public func workspaceSummary(workspaceID: String, since: Date, until: Date) async throws -> WorkspaceSummary {
        let start = Self.milliseconds(since)
        let end = Self.milliseconds(until)
        let summary = try await connection.read { db in
            try db.fetchOne(
                """
                SELECT w.name,
                    (SELECT count(*) FROM contacts
                        WHERE workspace_id = ?1 AND created_at >= ?2 AND created_at < ?3),
                    (SELECT count(*) FROM imports WHERE workspace_id = ?1 AND status = 'completed'
                        AND completed_at >= ?2 AND completed_at < ?3),
                    (SELECT count(*) FROM imports WHERE workspace_id = ?1 AND status = 'failed'
                        AND completed_at >= ?2 AND completed_at < ?3),
                    (SELECT count(*) FROM exports WHERE workspace_id = ?1 AND status = 'completed'
                        AND completed_at >= ?2 AND completed_at < ?3),
                    (SELECT count(*) FROM exports WHERE workspace_id = ?1 AND status = 'failed'
                        AND completed_at >= ?2 AND completed_at < ?3)
                FROM workspaces w WHERE w.id = ?1
                """, workspaceID, start, end
            ) { row in
                WorkspaceSummary(
                    workspaceId: workspaceID, workspaceName: row.string(at: 0), since: Self.date(milliseconds: start),
                    until: Self.date(milliseconds: end), contactsAdded: Int(row.int64(at: 1)),
                    importsCompleted: Int(row.int64(at: 2)), importsFailed: Int(row.int64(at: 3)),
                    exportsCompleted: Int(row.int64(at: 4)), exportsFailed: Int(row.int64(at: 5)))
            }
        }
        guard let summary else { throw FolksbaseError(.notFound, "workspace \(workspaceID) does not exist") }
        return summary
    }

    public func digestRecipients(workspaceID: String) async throws -> [User] {
        try await connection.read { db in
            try db.fetchAll(
                """
                SELECT u.id, u.email, u.name, u.created_at FROM workspace_members m
                JOIN users u ON u.id = m.user_id
                WHERE m.workspace_id = ?
                ORDER BY u.email
                """, workspaceID, row: Self.user(row:))
        }
    }
}
