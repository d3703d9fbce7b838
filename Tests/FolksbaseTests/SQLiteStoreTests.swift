import Foundation
import Testing

@testable import Folksbase

@Suite struct SQLiteStoreTests {
    @Test func migratesAFreshFileAndReopensWithoutChange() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/folksbase.sqlite"
            let tables = """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name
                """
            let first = try SQLiteFolksbaseStore(path: path)
            let user = try await first.createUser(email: "a@example.com", name: "A")
            let created = try await first.connection.read { db in try db.fetchAll(tables) { $0.string(at: 0) } }
            #expect(
                created == [
                    "contacts", "exports", "import_chunks", "import_overwritten", "imports", "users",
                    "workspace_members",
                    "workspace_settings", "workspaces",
                ])

            let reopened = try SQLiteFolksbaseStore(path: path)
            let version = try await reopened.connection.read { db in
                try db.fetchOne("PRAGMA user_version") { $0.int64(at: 0) }
            }
            #expect(version == Schema.version)
            #expect(try await reopened.user(id: user.id) == user)
        }
    }

    @Test func refusesADatabaseFromANewerBuild() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/folksbase.sqlite"
            let store = try SQLiteFolksbaseStore(path: path)
            try await store.connection.transaction { db in try db.executeScript("PRAGMA user_version = 999") }
            let error = #expect(throws: FolksbaseError.self) { try SQLiteFolksbaseStore(path: path) }
            #expect(error?.message.contains("newer") == true)
        }
    }

    @Test func usersAreUniqueByNormalizedEmail() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let user = try await store.createUser(email: "  Ada@Example.COM ", name: "Ada")
            #expect(user.email == "ada@example.com")
            #expect(user.id.hasPrefix("usr_"))
            #expect(try await store.user(email: "ADA@example.com") == user)
            let error = await #expect(throws: FolksbaseError.self) {
                try await store.createUser(email: "ada@example.com", name: "Other")
            }
            #expect(error?.code == .constraint)
            await #expect(throws: FolksbaseError.self) { try await store.createUser(email: "not an email", name: "") }
        }
    }

    @Test func contactsAreUniquePerWorkspaceAndEmail() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let first = try await store.createWorkspace(name: "First")
            let second = try await store.createWorkspace(name: "Second")
            let contact = try await store.addContact(NewContact(email: "x@example.com"), workspaceID: first.id)
            #expect(contact.id.hasPrefix("ct_"))
            let error = await #expect(throws: FolksbaseError.self) {
                try await store.addContact(NewContact(email: "X@example.com"), workspaceID: first.id)
            }
            #expect(error?.code == .constraint)
            _ = try await store.addContact(NewContact(email: "x@example.com"), workspaceID: second.id)

            let missing = await #expect(throws: FolksbaseError.self) {
                try await store.addContact(NewContact(email: "y@example.com"), workspaceID: "ws_missing")
            }
            #expect(missing?.code == .notFound)
        }
    }

    @Test func settingsDefaultToOnAndCanBeChanged() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let workspace = try await store.createWorkspace(name: "W")
            #expect(try await store.settings(workspaceID: workspace.id) == WorkspaceSettings(workspaceId: workspace.id))
            let changed = WorkspaceSettings(workspaceId: workspace.id, notifyOnImport: false, weeklyDigest: false)
            try await store.setSettings(changed)
            #expect(try await store.settings(workspaceID: workspace.id) == changed)

            let missing = await #expect(throws: FolksbaseError.self) {
                try await store.settings(workspaceID: "ws_missing")
            }
            #expect(missing?.code == .notFound)
            await #expect(throws: FolksbaseError.self) {
                try await store.setSettings(WorkspaceSettings(workspaceId: "ws_missing"))
            }
        }
    }

    @Test func demoSeedIsIdempotent() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/folksbase.sqlite"
            let store = try SQLiteFolksbaseStore(path: path)
            let first = try await store.seedDemo()
            let second = try await store.seedDemo()
            let afterReopen = try await SQLiteFolksbaseStore(path: path).seedDemo()
            #expect(first == second)
            #expect(first == afterReopen)
            #expect(first.workspaceId.hasPrefix("ws_"))

            let user = try #require(try await store.user(id: first.userId))
            #expect(user.email == "demo@folksbase.test")
            #expect(user.name == "Demo User")
            #expect(try await store.digestRecipients(workspaceID: first.workspaceId) == [user])
            #expect(
                try await store.settings(workspaceID: first.workspaceId)
                    == WorkspaceSettings(workspaceId: first.workspaceId))
            let counts = try await store.connection.read { db in
                try db.fetchOne("SELECT (SELECT count(*) FROM workspaces), (SELECT count(*) FROM contacts)") {
                    [$0.int64(at: 0), $0.int64(at: 1)]
                }
            }
            #expect(counts == [1, 5])

            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(first)) as? [String: String]
            #expect(json == ["workspaceId": first.workspaceId, "userId": first.userId])
        }
    }

    @Test func concurrentSeedsMakeOneDemo() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/folksbase.sqlite"
            let stores = try (0..<4).map { _ in try SQLiteFolksbaseStore(path: path) }
            let seeds = try await withThrowingTaskGroup(of: DemoSeed.self) { group in
                for store in stores { group.addTask { try await store.seedDemo() } }
                return try await group.reduce(into: Set<DemoSeed>()) { $0.insert($1) }
            }
            #expect(seeds.count == 1)
        }
    }

    @Test func summaryCountsOnlyTheWindow() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let workspace = try await store.createWorkspace(name: "Acme")
            let other = try await store.createWorkspace(name: "Other")
            let user = try await store.createUser(email: "owner@example.com", name: "Owner")
            let since = Date.utc("2026-11-23T08:00:00Z")
            let until = Date.utc("2026-11-30T08:00:00Z")

            for (index, time) in [
                "2026-11-23T07:59:59.999Z", "2026-11-23T08:00:00Z", "2026-11-27T12:00:00Z",
                "2026-11-30T07:59:59.999Z", "2026-11-30T08:00:00Z",
            ].enumerated() {
                clock.set(.utc(time))
                _ = try await store.addContact(NewContact(email: "c\(index)@example.com"), workspaceID: workspace.id)
                _ = try await store.addContact(NewContact(email: "c\(index)@example.com"), workspaceID: other.id)
            }

            let finished: [(table: String, status: String, completedAt: String?)] = [
                ("imports", "completed", "2026-11-24T00:00:00Z"),
                ("imports", "completed", "2026-11-29T00:00:00Z"),
                ("imports", "completed", "2026-11-20T00:00:00Z"),
                ("imports", "failed", "2026-11-25T00:00:00Z"),
                ("imports", "processing", nil),
                ("exports", "completed", "2026-11-26T00:00:00Z"),
                ("exports", "failed", "2026-11-26T00:00:00Z"),
                ("exports", "failed", "2026-11-30T08:00:00Z"),
            ]
            try await store.connection.transaction { db in
                for (index, row) in finished.enumerated() {
                    let created = SQLiteFolksbaseStore.milliseconds(.utc("2026-11-19T00:00:00Z"))
                    let completed = row.completedAt.map { SQLiteFolksbaseStore.milliseconds(.utc($0)) }
                    if row.table == "imports" {
                        try db.execute(
                            """
                            INSERT INTO imports (id, workspace_id, user_id, status, blob_url, file_name, created_at,
                                completed_at)
                            VALUES (?, ?, ?, ?, 'blob://x', 'x.csv', ?, ?)
                            """, "imp_\(index)", workspace.id, user.id, row.status, created, completed)
                    } else {
                        try db.execute(
                            """
                            INSERT INTO exports (id, workspace_id, user_id, status, created_at, completed_at)
                            VALUES (?, ?, ?, ?, ?, ?)
                            """, "exp_\(index)", workspace.id, user.id, row.status, created, completed)
                    }
                }
            }

            let summary = try await store.workspaceSummary(workspaceID: workspace.id, since: since, until: until)
            #expect(
                summary
                    == WorkspaceSummary(
                        workspaceId: workspace.id, workspaceName: "Acme", since: since, until: until, contactsAdded: 3,
                        importsCompleted: 2, importsFailed: 1, exportsCompleted: 1, exportsFailed: 1))

            let missing = await #expect(throws: FolksbaseError.self) {
                try await store.workspaceSummary(workspaceID: "ws_missing", since: since, until: until)
            }
            #expect(missing?.code == .notFound)
        }
    }

    @Test func digestSkipsWorkspacesThatTurnedItOff() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let store = try makeStore(in: directory, clock: clock)
            let on = try await store.createWorkspace(name: "On")
            clock.set(clock.now().addingTimeInterval(1))
            let off = try await store.createWorkspace(name: "Off")
            clock.set(clock.now().addingTimeInterval(1))
            let alsoOn = try await store.createWorkspace(name: "Also on")
            try await store.setSettings(WorkspaceSettings(workspaceId: off.id, weeklyDigest: false))
            try await store.setSettings(WorkspaceSettings(workspaceId: alsoOn.id, notifyOnImport: false))
            #expect(try await store.digestWorkspaces() == [on, alsoOn])
        }
    }

    @Test func recipientsAreTheMembers() async throws {
        try await withTemporaryDirectory { directory in
            let store = try makeStore(in: directory)
            let workspace = try await store.createWorkspace(name: "W")
            let bea = try await store.createUser(email: "bea@example.com", name: "Bea")
            let al = try await store.createUser(email: "al@example.com", name: "Al")
            _ = try await store.createUser(email: "outsider@example.com", name: "Outsider")
            try await store.addMember(workspaceID: workspace.id, userID: bea.id, role: .owner)
            try await store.addMember(workspaceID: workspace.id, userID: al.id, role: .member)
            try await store.addMember(workspaceID: workspace.id, userID: al.id, role: .admin)
            #expect(try await store.digestRecipients(workspaceID: workspace.id) == [al, bea])

            let error = await #expect(throws: FolksbaseError.self) {
                try await store.addMember(workspaceID: workspace.id, userID: "usr_missing", role: .member)
            }
            #expect(error?.code == .notFound)
        }
    }
}
