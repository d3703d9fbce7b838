import Foundation

/// Reading a workspace's contacts in pages, for exports.
extension SQLiteFolksbaseStore {
    /// A large page is read in two halves at once, each on its own connection and thread: every
    /// contact after `cursor` up to the middle one on one, the rest of `limit` after it on the other.
    /// The two reads see the database a moment apart, so a contact added or deleted meanwhile in the
    /// first half changes the page's size, never what it skips or repeats; whether more follow is
    /// the second read's to say.
    public func contactFieldsPage(workspaceID: String, after cursor: ContactCursor?, limit: Int) async throws
        -> ContactFieldsPage
    {
        guard limit >= 0 else { throw FolksbaseError(.invalidInput, "a page limit cannot be negative (got \(limit))") }
        guard limit >= splitPageRows,
            let middle = try await connection.read({ db in
                try Self.contactCursor(db, workspaceID: workspaceID, after: cursor, skipping: limit / 2 - 1)
            })
        else {
            return try await connection.read { db in
                try Self.contactFieldsPage(db, workspaceID: workspaceID, after: cursor, through: nil, limit: limit)
            }
        }
        return try await contactFieldsPage(workspaceID: workspaceID, after: cursor, splitAt: middle, limit: limit)
    }

    /// The page read in two halves split at `middle`, whatever lies between `cursor` and it by now.
    func contactFieldsPage(workspaceID: String, after cursor: ContactCursor?, splitAt middle: ContactCursor, limit: Int)
        async throws -> ContactFieldsPage
    {
        let half = limit / 2
        let second = try secondReader.connection()
        async let rest = second.read { db in
            try Self.contactFieldsPage(db, workspaceID: workspaceID, after: middle, through: nil, limit: limit - half)
        }
        var page = try await connection.read { db in
            try Self.contactFieldsPage(
                db, workspaceID: workspaceID, after: cursor, through: middle, limit: nil, expected: half)
        }
        page.append(try await rest)
        return page
    }

    /// The contacts after `cursor`, through `last` if given, at most `limit` of them if given.
    private static func contactFieldsPage(
        _ db: SQLiteConnection.Session, workspaceID: String, after cursor: ContactCursor?,
        through last: ContactCursor?, limit: Int?, expected: Int = 0
    ) throws -> ContactFieldsPage {
        var page = ContactFieldsPage(capacity: limit ?? expected)
        let statement = try db.statement(Self.contactFieldsPageSQL)
        defer { statement.reset() }
        // Ids are never empty, so "" starts before the first contact created at the cursor's time.
        try statement.bind([
            workspaceID, cursor?.createdAt ?? Int64.min, cursor?.id ?? "", last?.createdAt ?? Int64.max,
            last?.id ?? "\u{10FFFF}", Int64(limit ?? -1),
        ])
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
        page.mayHaveMore = limit.map { $0 > 0 && page.count == $0 } ?? false
        if page.count == 0 { try Self.requireWorkspace(workspaceID, db) }
        return page
    }

    /// The cursor of the contact `skipping` contacts after `cursor`, from the index alone; nil if there are fewer.
    private static func contactCursor(
        _ db: SQLiteConnection.Session, workspaceID: String, after cursor: ContactCursor?, skipping: Int
    ) throws -> ContactCursor? {
        try db.fetchOne(
            contactCursorSQL, workspaceID, cursor?.createdAt ?? Int64.min, cursor?.id ?? "", Int64(skipping)
        ) { ContactCursor(createdAt: $0.int64(at: 0), id: $0.string(at: 1)) }
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

    /// The (workspace_id, created_at, id, fields…) index serves the range, the order and the fields:
    /// no sort, no scan, no lookup into the table.
    static let contactFieldsPageSQL = """
        SELECT email, first_name, last_name, company, phone, created_at, id FROM contacts
        WHERE workspace_id = ?1 AND (created_at, id) > (?2, ?3) AND (created_at, id) <= (?4, ?5)
        ORDER BY created_at, id LIMIT ?6
        """

    static let contactCursorSQL = """
        SELECT created_at, id FROM contacts
        WHERE workspace_id = ?1 AND (created_at, id) > (?2, ?3)
        ORDER BY created_at, id LIMIT 1 OFFSET ?4
        """
}
