import Foundation
import Logging
import SpoolEngine
import TestServers
import Testing

@testable import Folksbase

/// The folksbase jobs on the real engine and the embedded parts (SQLite, outbox).
@Suite struct JobsTests {
    /// A served spool with folksbase's functions; the store's clock is `clock`.
    struct Served {
        let layout: SpoolLayout
        let services: FolksbaseServices
        let server: SpoolServer
        let task: Task<Void, Error>

        /// `environment` configures the services (`SPOOL_SMTP_URL`, say) instead of this process's.
        init(
            root: String, clock: ManualClock, environment: [String: String]? = nil,
            functions: (FolksbaseServices) -> [SpoolFunction] = { FolksbaseFunctions.all($0) }
        ) throws {
            let layout = SpoolLayout(root: root + "/spool")
            try layout.create()
            self.layout = layout
            let writer = DurableWriter()
            services = try FolksbaseServices.embedded(
                spool: layout, writer: writer, clock: clock,
                configuration: environment.map { FolksbaseServices.Configuration(spool: layout, environment: $0) })
            server = SpoolServer(
                layout: layout, functions: functions(services), writer: writer,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            task = Task { [server] in try await server.run() }
        }

        func send(_ event: Event) async throws { try await EventProducer(layout: layout).send([event]) }

        func runs(_ folder: String) throws -> [RunLocation] { try RunLocator(layout: layout).all(in: [folder]) }

        func emails() throws -> [String] {
            try Disk.listVisible(layout.root + "/outbox").sorted().map {
                String(decoding: try Disk.read(layout.root + "/outbox/" + $0), as: UTF8.self)
            }
        }

        func stop() async throws {
            server.stop()
            try await task.value
        }
    }

    @Test func theEventNamesAreThoseTheFunctionsAreTriggeredBy() async throws {
        try await withTemporaryDirectory { root in
            let layout = SpoolLayout(root: root + "/spool")
            try layout.create()
            let services = try FolksbaseServices.embedded(spool: layout, writer: DurableWriter(), clock: ManualClock())
            let triggers = FolksbaseFunctions.all(services).compactMap { function -> String? in
                if case .event(let name) = function.trigger { return name }
                return nil
            }
            #expect(Set(triggers) == FolksbaseFunctions.eventNames)
        }
    }

    @Test func sendWelcomeEmailsTheUserOnce() async throws {
        try await withTemporaryDirectory { root in
            let served = try Served(root: root, clock: ManualClock())
            let seed = try await served.services.store.seedDemo()
            try await served.send(
                Event(
                    name: "user/signed.up",
                    data: ["userId": .string(seed.userId), "workspaceId": .string(seed.workspaceId)]))
            try await waitUntil("the welcome run is done") { try served.runs("done").count == 1 }
            try await served.stop()

            let run = try #require(try served.runs("done").first)
            #expect(
                try Disk.listVisible(run.directory + "/steps").sorted() == [
                    "fetch-user.json", "send-welcome-email.json",
                ])
            let emails = try served.emails()
            #expect(emails.count == 1)
            #expect(emails[0].contains("To: Demo User <demo@folksbase.test>"))
            #expect(emails[0].contains("Demo workspace"))
            // The Message-ID comes from the run and step, so a re-run of the step rewrites the same file.
            let messageID = EmailMessage.messageID(
                idempotencyKey: "\(run.id)/send-welcome-email", domain: "folksbase.test")
            #expect(emails[0].contains("Message-ID: <\(messageID)>"))
        }
    }

    /// `spool replay` of a finished export starts a run that finds the export completed: the run
    /// fails at once, and its onFailure leaves the export completed and emails nobody.
    @Test func anExportRunThatFindsItsExportFinishedLeavesItAloneAndEmailsNobody() async throws {
        try await withTemporaryDirectory { root in
            let served = try Served(root: root, clock: ManualClock())
            let store = served.services.store
            let seed = try await store.seedDemo()
            let export = try await store.createExport(workspaceID: seed.workspaceId, userID: seed.userId)
            _ = try await store.completeExport(id: export.id, blobURL: "file:///exports/x.csv", rowCount: 0)
            try await served.send(
                Event(
                    name: ProcessExport.event,
                    data: [
                        "exportId": .string(export.id), "workspaceId": .string(seed.workspaceId),
                        "userId": .string(seed.userId),
                    ]))
            try await waitUntil("the export run to fail") { try served.runs("failed").count == 1 }
            try await served.stop()

            #expect(try await store.exportRecord(id: export.id)?.status == .completed)
            #expect(((try? served.emails()) ?? []).isEmpty)
        }
    }

    /// An import's `notify` comes after `finalize`: when it fails for good, the import stays completed
    /// and nobody is told it failed. An import still processing is marked failed and its user emailed.
    @Test(arguments: [false, true])
    func theFailureHandlerFailsOnlyARecordThatHasNotCompleted(completedFirst: Bool) async throws {
        try await withTemporaryDirectory { root in
            let served = try Served(root: root, clock: ManualClock()) { services in
                [
                    SpoolFunction(
                        id: "late-failure", trigger: .event("test/late"), retry: RetryPolicy(retries: 0),
                        handler: { context in
                            try await context.step.run("notify") { _ in throw NonRetriableError("mail refused") }
                        },
                        onFailure: { context in
                            try await JobFailure.record(
                                "import", context: context, services: services, fetchStep: ProcessCSV.fetchStep,
                                markFailed: { id, error in
                                    try await services.store.failImport(id: id, error: error).status
                                },
                                recordID: { try $0.decodeData([String: String].self)["importId"] ?? "" },
                                userID: { try $0.decodeData([String: String].self)["userId"] })
                        })
                ]
            }
            let store = served.services.store
            let seed = try await store.seedDemo()
            let record = try await store.createImport(
                workspaceID: seed.workspaceId, userID: seed.userId, blobURL: "file:///imports/x.csv", fileName: "x.csv",
                columnMapping: nil)
            if completedFirst {
                _ = try await store.completeImport(
                    id: record.id, totalRows: 0, inserted: 0, updated: 0, skipped: 0, errorLog: [], errorCount: 0)
            }
            try await served.send(
                Event(name: "test/late", data: ["importId": .string(record.id), "userId": .string(seed.userId)]))
            try await waitUntil("the run to fail") { try served.runs("failed").count == 1 }
            try await served.stop()

            #expect(try await store.importRecord(id: record.id)?.status == (completedFirst ? .completed : .failed))
            #expect(((try? served.emails()) ?? []).count == (completedFirst ? 0 : 1))
        }
    }

    @Test func aCancelledImportOrExportStillProcessingIsMarkedFailed() async throws {
        try await withTemporaryDirectory { root in
            let served = try Served(root: root, clock: ManualClock())
            let store = served.services.store
            let seed = try await store.seedDemo()
            func newImport() async throws -> String {
                try await store.createImport(
                    workspaceID: seed.workspaceId, userID: seed.userId, blobURL: "file:///imports/x.csv",
                    fileName: "x.csv", columnMapping: nil
                ).id
            }
            let stopped = try await newImport()
            let completed = try await newImport()
            _ = try await store.completeImport(
                id: completed, totalRows: 0, inserted: 0, updated: 0, skipped: 0, errorLog: [], errorCount: 0)
            let failedBefore = try await newImport()
            _ = try await store.failImport(id: failedBefore, error: "disk full")
            let export = try await store.createExport(workspaceID: seed.workspaceId, userID: seed.userId).id
            let cancelled: [(function: String, key: String, id: String)] = [
                (ProcessCSV.id, "importId", stopped), (ProcessCSV.id, "importId", completed),
                (ProcessExport.id, "exportId", export), (ProcessCSV.id, "importId", "imp_gone"),
                (ProcessCSV.id, "importId", failedBefore),
            ]
            for (index, run) in cancelled.enumerated() {
                try await served.send(
                    Event(
                        name: RunCancelled.eventName,
                        data: [
                            "runId": .string("run-\(index)"), "functionId": .string(run.function),
                            "event": ["name": "x", "data": [run.key: .string(run.id)]],
                        ]))
            }
            try await waitUntil("the cancellations are recorded") { try served.runs("done").count == cancelled.count }
            try await served.stop()

            let failed = try #require(try await store.importRecord(id: stopped))
            #expect(failed.status == .failed && failed.error == "cancelled: `spool cancel` stopped run run-0")
            #expect(try await store.importRecord(id: completed)?.status == .completed)
            #expect(try await store.importRecord(id: failedBefore)?.error == "disk full", "its own failure stands")
            #expect(try await store.exportRecord(id: export)?.status == .failed)
            #expect(((try? served.emails()) ?? []).isEmpty, "whoever cancelled knows")
        }
    }

    @Test func aWelcomeForAMissingUserFailsWithoutRetrying() async throws {
        try await withTemporaryDirectory { root in
            let served = try Served(root: root, clock: ManualClock())
            try await served.send(Event(name: "user/signed.up", data: ["userId": "usr_nobody"]))
            try await waitUntil("the run fails") { try served.runs("failed").count == 1 }
            try await served.stop()
            let run = try #require(try served.runs("failed").first)
            let record = try RunRecord.read(from: run.directory + "/run.json")
            #expect(record.lastError?.nonRetriable == true)
            #expect(record.lastError?.step == "fetch-user")
            #expect(RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .started }.count == 1)
            #expect(try served.emails().isEmpty)
        }
    }

    /// An SMTP sink (Tests/Servers/smtp_sink.py) that answers 550 to RCPT TO for `refused`, and its maildir.
    func smtpSink(root: String, refusing refused: String) throws -> (server: LocalServer, maildir: String) {
        let maildir = root + "/maildir"
        try FileManager.default.createDirectory(atPath: maildir, withIntermediateDirectories: true)
        let server = try LocalServer(["python3", SMTPMailerTests.script, "{port}", maildir, "--reject-rcpt", refused])
        return (server, maildir)
    }

    @Test(.enabled(if: LocalServer.hasPythonModule("aiosmtpd"), "needs Python's aiosmtpd"))
    func aWelcomeTheMailServerRefusesForGoodFailsWithoutRetrying() async throws {
        try await withTemporaryDirectory { root in
            let smtp = try smtpSink(root: root, refusing: "gone@example.test")
            let served = try Served(
                root: root, clock: ManualClock(),
                environment: ["SPOOL_SMTP_URL": "smtp://127.0.0.1:\(smtp.server.port)"])
            let user = try await served.services.store.createUser(email: "gone@example.test", name: "Gone")
            try await served.send(Event(name: "user/signed.up", data: ["userId": .string(user.id)]))
            try await waitUntil("the run fails") { try served.runs("failed").count == 1 }
            try await served.stop()
            let run = try #require(try served.runs("failed").first)
            let error = try #require(try RunRecord.read(from: run.directory + "/run.json").lastError)
            #expect(error.nonRetriable == true && error.step == "send-welcome-email")
            #expect(error.message.contains("gone@example.test") && error.message.contains("550"), "\(error.message)")
            #expect(RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .started }.count == 1)
        }
    }

    @Test(.enabled(if: LocalServer.hasPythonModule("aiosmtpd"), "needs Python's aiosmtpd"))
    func theWeeklyDigestGoesOnPastARecipientTheMailServerRefusesForGood() async throws {
        try await withTemporaryDirectory { root in
            let smtp = try smtpSink(root: root, refusing: "ana@gone.test")
            let served = try Served(
                root: root, clock: ManualClock(.utc("2026-11-27T10:00:00Z")),
                environment: ["SPOOL_SMTP_URL": "smtp://127.0.0.1:\(smtp.server.port)"])
            let store = served.services.store
            // Ana is in both workspaces, so a refusal comes before a digest whichever workspace is first.
            let ana = try await store.createUser(email: "ana@gone.test", name: "Ana")
            var expected: Set<String> = []
            for name in ["One Co", "Two Co"] {
                let workspace = try await store.createWorkspace(name: name)
                try await store.addMember(workspaceID: workspace.id, userID: ana.id, role: .owner)
                let member = try await store.createUser(email: "\(workspace.id)@here.test", name: "Member")
                try await store.addMember(workspaceID: workspace.id, userID: member.id, role: .member)
                expected.insert(member.email)
            }

            try await served.send(CronTick.event(function: WeeklyDigest.id, scheduledAt: .utc("2026-11-30T08:00:00Z")))
            try await waitUntil("the digest run is done") { try served.runs("done").count == 1 }
            try await served.stop()

            let run = try #require(try served.runs("done").first)
            let refused = try Disk.listVisible(run.directory + "/steps").filter { $0.hasSuffix("-\(ana.id).json") }
            #expect(refused.count == 2)
            for step in refused {
                let text = String(decoding: try Disk.read(run.directory + "/steps/" + step), as: UTF8.self)
                #expect(text.contains("not sent: ") && text.contains("recipient rejected"), "\(text)")
            }
            #expect(RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .stepFailed }.isEmpty)
            let recipients = try Disk.listVisible(smtp.maildir).filter { $0.hasSuffix(".json") }.map {
                let envelope = try JSONSerialization.jsonObject(with: Disk.read(smtp.maildir + "/" + $0))
                return (envelope as? [String: Any])?["rcpt_tos"] as? [String] ?? []
            }
            #expect(recipients.sorted { $0.description < $1.description } == expected.sorted().map { [$0] })
        }
    }

    @Test func theWeeklyDigestSummarisesEachWorkspaceForEachMemberAndSkipsThoseThatOptedOut() async throws {
        try await withTemporaryDirectory { root in
            let clock = ManualClock(.utc("2026-11-27T10:00:00Z"))
            let served = try Served(root: root, clock: clock)
            let store = served.services.store
            let busy = try await store.createWorkspace(name: "Busy Co")
            let quiet = try await store.createWorkspace(name: "Quiet Co")
            let ana = try await store.createUser(email: "ana@busy.test", name: "Ana")
            let bo = try await store.createUser(email: "bo@busy.test", name: "Bo")
            let cy = try await store.createUser(email: "cy@quiet.test", name: "Cy")
            // A name no mail header can carry: Dee gets no digest, and the others still get theirs.
            let dee = try await store.createUser(email: "dee@busy.test", name: "Dee\r\nBcc: all@evil.test")
            try await store.addMember(workspaceID: busy.id, userID: dee.id, role: .member)
            try await store.addMember(workspaceID: busy.id, userID: ana.id, role: .owner)
            try await store.addMember(workspaceID: busy.id, userID: bo.id, role: .member)
            try await store.addMember(workspaceID: quiet.id, userID: cy.id, role: .owner)
            var off = try await store.settings(workspaceID: quiet.id)
            off.weeklyDigest = false
            try await store.setSettings(off)
            for index in 0..<3 {
                _ = try await store.addContact(NewContact(email: "c\(index)@x.test"), workspaceID: busy.id)
            }
            clock.set(.utc("2026-11-10T10:00:00Z"))  // outside the week before the tick
            _ = try await store.addContact(NewContact(email: "old@x.test"), workspaceID: busy.id)

            try await served.send(CronTick.event(function: WeeklyDigest.id, scheduledAt: .utc("2026-11-30T08:00:00Z")))
            try await waitUntil("the digest run is done") { try served.runs("done").count == 1 }
            try await served.stop()

            let run = try #require(try served.runs("done").first)
            let steps = try Disk.listVisible(run.directory + "/steps").sorted()
            #expect(
                steps
                    == [
                        "email-\(busy.id)-\(ana.id).json", "email-\(busy.id)-\(bo.id).json",
                        "email-\(busy.id)-\(dee.id).json", "list-workspaces.json", "summary-\(busy.id).json",
                    ].sorted())
            let skipped = String(
                decoding: try Disk.read(run.directory + "/steps/email-\(busy.id)-\(dee.id).json"), as: UTF8.self)
            #expect(skipped.contains("not sent: "), "\(skipped)")
            let emails = try served.emails()
            #expect(emails.count == 2)
            #expect(emails.allSatisfy { $0.contains("Busy Co") && !$0.contains("Quiet Co") })
            #expect(emails.contains { $0.contains("ana@busy.test") } && emails.contains { $0.contains("bo@busy.test") })
            let summary = String(
                decoding: try Disk.read(run.directory + "/steps/summary-\(busy.id).json"), as: UTF8.self)
            #expect(summary.contains(#""contactsAdded" : 3"#), "only the week before the tick counts: \(summary)")
        }
    }
}
