import Foundation
import SpoolEngine

/// The embedded `FolksbaseStore`: one SQLite file, by default `spool/folksbase.sqlite`.
public struct SQLiteFolksbaseStore: FolksbaseStore {
    /// The connection, for services that need SQL of their own (bulk contact upserts).
    public let connection: SQLiteConnection
    let clock: any SpoolClock
    /// A second connection for the half of a large contact page read beside the first.
    let secondReader: SiblingConnection
    /// Contact pages of at least this many rows are read in two halves at once, one per connection.
    var splitPageRows = 5_000
    /// Import chunks applied at the same moment commit together.
    let chunkTransactions: SharedTransactions<ChunkResult>

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(
        path: String, clock: any SpoolClock = SystemClock(),
        configuration: SQLiteConnection.Configuration = SQLiteConnection.Configuration()
    ) throws {
        self.connection = try SQLiteConnection(path: path, configuration: configuration)
        self.secondReader = SiblingConnection(of: connection)
        self.chunkTransactions = SharedTransactions(on: connection)
        self.clock = clock
        try Schema.migrate(connection)
    }

    // MARK: Users

    public func createUser(email: String, name: String) async throws -> User {
        let user = User(
            id: RecordID.make(RecordID.user), email: try Self.validEmail(email), name: name, createdAt: now())
        try await connection.transaction { db in try Self.insert(user, db) }
        return user
    }

    public func user(id: String) async throws -> User? {
        try await connection.read { db in
            try db.fetchOne("SELECT \(Self.userColumns) FROM users WHERE id = ?", id, row: Self.user(row:))
        }
    }

    public func user(email: String) async throws -> User? {
        let email = StoredEmail.normalize(email)
        return try await connection.read { db in
            try db.fetchOne("SELECT \(Self.userColumns) FROM users WHERE email = ?", email, row: Self.user(row:))
        }
    }

    // MARK: Workspaces

    public func createWorkspace(name: String) async throws -> Workspace {
        let workspace = Workspace(id: RecordID.make(RecordID.workspace), name: name, createdAt: now())
        try await connection.transaction { db in try Self.insert(workspace, db) }
        return workspace
    }

    public func workspace(id: String) async throws -> Workspace? {
        try await connection.read { db in
            try db.fetchOne(
                "SELECT \(Self.workspaceColumns) FROM workspaces WHERE id = ?", id, row: Self.workspace(row:))
        }
    }

    public func addMember(workspaceID: String, userID: String, role: WorkspaceRole) async throws {
        try await connection.transaction { db in try Self.addMember(workspaceID, userID, role, db) }
    }

    public func settings(workspaceID: String) async throws -> WorkspaceSettings {
        try await connection.read { db in
            let stored = try db.fetchOne(
                """
                SELECT notify_on_import, notify_on_export, weekly_digest
                FROM workspace_settings WHERE workspace_id = ?
                """, workspaceID
            ) { row in
                WorkspaceSettings(
                    workspaceId: workspaceID, notifyOnImport: row.int64(at: 0) != 0,
                    notifyOnExport: row.int64(at: 1) != 0, weeklyDigest: row.int64(at: 2) != 0)
            }
            if let stored { return stored }
            try Self.requireWorkspace(workspaceID, db)
            return WorkspaceSettings(workspaceId: workspaceID)
        }
    }

    public func setSettings(_ settings: WorkspaceSettings) async throws {
        try await connection.transaction { db in try Self.store(settings, db) }
    }

    // MARK: Contacts

    public func addContact(_ contact: NewContact, workspaceID: String) async throws -> Contact {
        let time = now()
        let stored = Contact(
            id: RecordID.make(RecordID.contact), workspaceId: workspaceID, email: try Self.validEmail(contact.email),
            firstName: contact.firstName, lastName: contact.lastName, company: contact.company, phone: contact.phone,
            createdAt: time, updatedAt: time)
        try await connection.transaction { db in try Self.insert(stored, db) }
        return stored
    }

    // MARK: Statements shared by the public methods and the seed

    static func insert(_ user: User, _ db: SQLiteConnection.Session) throws {
        do {
            try db.execute(
                "INSERT INTO users (id, email, name, created_at) VALUES (?, ?, ?, ?)", user.id, user.email,
                user.name, milliseconds(user.createdAt))
        } catch let error as FolksbaseError where error.code == .constraint {
            throw FolksbaseError(.constraint, "a user with email \(user.email) exists already", cause: error)
        }
    }

    static func insert(_ workspace: Workspace, _ db: SQLiteConnection.Session) throws {
        try db.execute(
            "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)", workspace.id, workspace.name,
            milliseconds(workspace.createdAt))
        try store(WorkspaceSettings(workspaceId: workspace.id), db)
    }

    static func addMember(
        _ workspaceID: String, _ userID: String, _ role: WorkspaceRole, _ db: SQLiteConnection.Session
    ) throws {
        do {
            try db.execute(
                """
                INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (?, ?, ?)
                ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role
                """, workspaceID, userID, role.rawValue)
        } catch let error as FolksbaseError where error.isForeignKeyViolation {
            throw FolksbaseError(
                .notFound, "cannot add user \(userID) to workspace \(workspaceID): one of them does not exist",
                cause: error)
        }
    }

    static func store(_ settings: WorkspaceSettings, _ db: SQLiteConnection.Session) throws {
        do {
            try db.execute(
                """
                INSERT INTO workspace_settings (workspace_id, notify_on_import, notify_on_export, weekly_digest)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (workspace_id) DO UPDATE SET notify_on_import = excluded.notify_on_import,
                    notify_on_export = excluded.notify_on_export, weekly_digest = excluded.weekly_digest
                """, settings.workspaceId, settings.notifyOnImport, settings.notifyOnExport, settings.weeklyDigest)
        } catch let error as FolksbaseError where error.isForeignKeyViolation {
            throw FolksbaseError(.notFound, "workspace \(settings.workspaceId) does not exist", cause: error)
        }
    }

    static func insert(_ contact: Contact, _ db: SQLiteConnection.Session) throws {
        do {
            try db.execute(
                """
                INSERT INTO contacts
                    (id, workspace_id, email, first_name, last_name, company, phone, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, contact.id, contact.workspaceId, contact.email, contact.firstName, contact.lastName,
                contact.company, contact.phone, milliseconds(contact.createdAt), milliseconds(contact.updatedAt))
        } catch let error as FolksbaseError where error.isForeignKeyViolation {
            throw FolksbaseError(.notFound, "workspace \(contact.workspaceId) does not exist", cause: error)
        } catch let error as FolksbaseError where error.code == .constraint {
            throw FolksbaseError(
                .constraint, "workspace \(contact.workspaceId) has a contact with email \(contact.email) already",
                cause: error)
        }
    }

    static func requireWorkspace(_ workspaceID: String, _ db: SQLiteConnection.Session) throws {
        guard try db.fetchOne("SELECT 1 FROM workspaces WHERE id = ?", workspaceID, row: { _ in true }) != nil
        else { throw FolksbaseError(.notFound, "workspace \(workspaceID) does not exist") }
    }

    // MARK: Rows

    static let userColumns = "id, email, name, created_at"

    static func user(row: SQLiteStatement) -> User {
        User(
            id: row.string(at: 0), email: row.string(at: 1), name: row.string(at: 2),
            createdAt: date(milliseconds: row.int64(at: 3)))
    }

    static let workspaceColumns = "id, name, created_at"

    static func workspace(row: SQLiteStatement) -> Workspace {
        Workspace(id: row.string(at: 0), name: row.string(at: 1), createdAt: date(milliseconds: row.int64(at: 2)))
    }

    // MARK: Values

    /// The clock's time, at the millisecond precision the database keeps.
    func now() -> Date { Self.date(milliseconds: Self.milliseconds(clock.now())) }

    /// A time as the schema stores it: milliseconds since the epoch.
    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    static func validEmail(_ email: String) throws -> String {
        let normalized = StoredEmail.normalize(email)
        guard StoredEmail.isPlausible(normalized) else {
            throw FolksbaseError(.invalidInput, "\"\(email)\" is not an email address (expected name@domain)")
        }
        return normalized
    }
}
