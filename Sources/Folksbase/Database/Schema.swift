/// Folksbase's SQLite schema as numbered migrations; `PRAGMA user_version` counts those applied.
///
/// Times are INTEGER milliseconds since the epoch (UTC). Emails are stored trimmed and lower-cased,
/// so plain equality is the uniqueness rule. Append new migrations; never edit a shipped one.
enum Schema {
    static let migrations: [String] = [
        """
        CREATE TABLE workspaces (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX workspaces_name ON workspaces(name);

        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );

        CREATE TABLE workspace_members (
            workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
            PRIMARY KEY (workspace_id, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX workspace_members_user ON workspace_members(user_id);

        CREATE TABLE workspace_settings (
            workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
            notify_on_import INTEGER NOT NULL DEFAULT 1 CHECK (notify_on_import IN (0, 1)),
            notify_on_export INTEGER NOT NULL DEFAULT 1 CHECK (notify_on_export IN (0, 1)),
            weekly_digest INTEGER NOT NULL DEFAULT 1 CHECK (weekly_digest IN (0, 1))
        );

        CREATE TABLE contacts (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            first_name TEXT,
            last_name TEXT,
            company TEXT,
            phone TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (workspace_id, email)
        );
        -- The digest counts new contacts per workspace and window.
        CREATE INDEX contacts_workspace_created ON contacts(workspace_id, created_at);

        CREATE TABLE imports (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users(id),
            status TEXT NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'completed', 'failed')),
            blob_url TEXT NOT NULL,
            file_name TEXT NOT NULL,
            column_mapping TEXT NOT NULL DEFAULT '{}',
            total_rows INTEGER NOT NULL DEFAULT 0,
            inserted INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            error_log TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            created_at INTEGER NOT NULL,
            completed_at INTEGER
        );
        -- completed_at is set when an import or export ends, completed or failed.
        CREATE INDEX imports_workspace_completed ON imports(workspace_id, completed_at);

        CREATE TABLE exports (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users(id),
            status TEXT NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'completed', 'failed')),
            blob_url TEXT,
            row_count INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at INTEGER NOT NULL,
            completed_at INTEGER
        );
        CREATE INDEX exports_workspace_completed ON exports(workspace_id, completed_at);
        """,
        // 2: imports that apply each chunk exactly once.
        """
        -- Which import last wrote a contact, and from which row: a later row of the same import with
        -- that email is a duplicate. Provenance only, so no foreign key (its check would slow every upsert).
        ALTER TABLE contacts ADD COLUMN import_id TEXT;
        ALTER TABLE contacts ADD COLUMN import_row INTEGER;

        -- One row per applied chunk, written in the chunk's transaction: a re-run returns `result`.
        CREATE TABLE import_chunks (
            import_id TEXT NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
            chunk INTEGER NOT NULL,
            result TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (import_id, chunk)
        ) WITHOUT ROWID;

        ALTER TABLE imports ADD COLUMN error_count INTEGER NOT NULL DEFAULT 0;

        -- Job lists are shown newest first, per workspace or across all of them.
        CREATE INDEX imports_workspace_created ON imports(workspace_id, created_at);
        CREATE INDEX imports_created ON imports(created_at);
        CREATE INDEX exports_workspace_created ON exports(workspace_id, created_at);
        CREATE INDEX exports_created ON exports(created_at);
        """,
        // 3: exports page in creation order.
        """
        -- Exports page through (workspace_id, created_at, id): the rows of one import sit together in
        -- the table, so a page reads them nearly in order (email order read them at random). The
        -- digest's count of new contacts per window uses the same index.
        DROP INDEX contacts_workspace_created;
        CREATE INDEX contacts_workspace_created_id ON contacts(workspace_id, created_at, id);
        """,
        // 4: the export's index holds the exported fields.
        """
        -- A page reads the index alone: no lookup into the table for each contact, which was most
        -- of an export's time in SQLite. The index grows by the fields' size.
        DROP INDEX contacts_workspace_created_id;
        CREATE INDEX contacts_workspace_created_fields
            ON contacts(workspace_id, created_at, id, email, first_name, last_name, company, phone);
        """,
        // 5: imports of one workspace at once still skip their own duplicates.
        """
        -- A contact an import wrote and another import, still processing, then wrote over: a later
        -- row of the first import with that email is a duplicate of `import_row` all the same.
        -- Written only while two imports of one workspace run at once; gone when the first completes.
        CREATE TABLE import_overwritten (
            import_id TEXT NOT NULL,
            email TEXT NOT NULL,
            import_row INTEGER NOT NULL,
            PRIMARY KEY (import_id, email)
        ) WITHOUT ROWID;
        """,
    ]

    /// The version a fully migrated database reports.
    static var version: Int64 { Int64(migrations.count) }

    /// Applies the migrations `connection`'s database has not had yet.
    ///
    /// Safe when several processes open the file at once: `BEGIN IMMEDIATE` lets one migrate
    /// while the others wait, and they then find nothing left to do.
    static func migrate(_ connection: SQLiteConnection) throws {
        let current = try connection.read { db in try userVersion(db) }
        if current == version { return }
        try connection.transaction { db in
            let current = try userVersion(db)
            guard current <= version else {
                throw FolksbaseError(
                    .database,
                    "\(connection.path) has schema version \(current), newer than this build's \(version); "
                        + "run a newer folksbase")
            }
            for sql in migrations.dropFirst(Int(current)) { try db.executeScript(sql) }
            try db.executeScript("PRAGMA user_version = \(version)")
        }
    }

    private static func userVersion(_ db: SQLiteConnection.Session) throws -> Int64 {
        try db.fetchOne("PRAGMA user_version") { $0.int64(at: 0) } ?? 0
    }
}
