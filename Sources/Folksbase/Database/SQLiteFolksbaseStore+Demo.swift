import Foundation

/// The demo data `spool seed` creates.
extension SQLiteFolksbaseStore {
    static let demoWorkspaceName = "Demo workspace"
    static let demoUserEmail = "demo@folksbase.test"

    public func seedDemo() async throws -> DemoSeed {
        let time = now()
        // One IMMEDIATE transaction: two processes seeding at once still make one demo.
        return try await connection.transaction { db in
            let workspaceID = try db.fetchOne(
                "SELECT id FROM workspaces WHERE name = ? ORDER BY created_at, id LIMIT 1", Self.demoWorkspaceName
            ) { $0.string(at: 0) }
            if let workspaceID, let ownerID = try Self.owner(of: workspaceID, db) {
                return DemoSeed(workspaceId: workspaceID, userId: ownerID)
            }
            let userID = try Self.demoUser(db, time: time)
            let demoWorkspaceID = try workspaceID ?? Self.demoWorkspace(db, time: time)
            try Self.addMember(demoWorkspaceID, userID, .owner, db)
            return DemoSeed(workspaceId: demoWorkspaceID, userId: userID)
        }
    }

    private static func owner(of workspaceID: String, _ db: SQLiteConnection.Session) throws -> String? {
        try db.fetchOne(
            "SELECT user_id FROM workspace_members WHERE workspace_id = ? AND role = 'owner' ORDER BY user_id LIMIT 1",
            workspaceID
        ) { $0.string(at: 0) }
    }

    private static func demoUser(_ db: SQLiteConnection.Session, time: Date) throws -> String {
        if let id = try db.fetchOne("SELECT id FROM users WHERE email = ?", demoUserEmail, row: { $0.string(at: 0) }) {
            return id
        }
        let user = User(id: RecordID.make(RecordID.user), email: demoUserEmail, name: "Demo User", createdAt: time)
        try insert(user, db)
        return user.id
    }

    private static func demoWorkspace(_ db: SQLiteConnection.Session, time: Date) throws -> String {
        let workspace = Workspace(id: RecordID.make(RecordID.workspace), name: demoWorkspaceName, createdAt: time)
        try insert(workspace, db)
        for contact in demoContacts {
            try insert(
                Contact(
                    id: RecordID.make(RecordID.contact), workspaceId: workspace.id, email: contact.email,
                    firstName: contact.firstName, lastName: contact.lastName, company: contact.company,
                    phone: contact.phone, createdAt: time, updatedAt: time), db)
        }
        return workspace.id
    }

    private static let demoContacts = [
        NewContact(email: "ada@example.com", firstName: "Ada", lastName: "Lovelace", company: "Analytical Engines"),
        NewContact(email: "grace@example.com", firstName: "Grace", lastName: "Hopper", company: "COBOL Inc."),
        NewContact(email: "alan@example.com", firstName: "Alan", lastName: "Turing", phone: "+44 20 7946 0000"),
        NewContact(email: "katherine@example.com", firstName: "Katherine", lastName: "Johnson", company: "NASA"),
        NewContact(email: "edsger@example.com", firstName: "Edsger", lastName: "Dijkstra"),
    ]
}
