/// Keeps one chunk's duplicates apart from other imports of its workspace processing at the same time.
///
/// A contact holds only the `import_id` of the import that wrote it last, which is how a later row of
/// the same import is known for a duplicate. When another import, still processing, writes over it,
/// that import notes the first one's row in `import_overwritten`, where the first import looks.
/// With no other import processing and nothing written over (the usual case) it costs two queries a chunk.
struct ConcurrentImports {
    private let workspaceID: String
    private let otherImports: Set<String>
    private let overwritten: [String: Int64]
    private let db: SQLiteConnection.Session

    init(importID: String, workspaceID: String, _ db: SQLiteConnection.Session) throws {
        self.workspaceID = workspaceID
        self.db = db
        otherImports = Set(
            try db.fetchAll(
                "SELECT id FROM imports WHERE workspace_id = ? AND status = 'processing' AND id != ?", workspaceID,
                importID
            ) { $0.string(at: 0) })
        overwritten = Dictionary(
            try db.fetchAll("SELECT email, import_row FROM import_overwritten WHERE import_id = ?", importID) {
                ($0.string(at: 0), $0.int64(at: 1))
            }, uniquingKeysWith: { first, _ in first })
    }

    /// The row of this import that had `email` first, when another import has written over its contact.
    func rowOverwritten(email: String) -> Int64? { overwritten[email] }

    /// Before this import writes `email`'s contact: notes the row of a still-processing import that wrote it last.
    func noteOverwrite(email: String) throws {
        guard !otherImports.isEmpty else { return }
        let last = try db.fetchOne(
            "SELECT import_id, import_row FROM contacts WHERE workspace_id = ? AND email = ?", workspaceID, email
        ) { (importID: $0.optionalString(at: 0), row: $0.optionalInt64(at: 1)) }
        guard let last, let importID = last.importID, let row = last.row, otherImports.contains(importID) else {
            return
        }
        try db.execute(
            "INSERT OR IGNORE INTO import_overwritten (import_id, email, import_row) VALUES (?, ?, ?)", importID, email,
            row)
    }
}
