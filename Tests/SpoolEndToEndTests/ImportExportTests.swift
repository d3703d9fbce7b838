import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// CSV import and export through the built binary: bad rows, a kill -9 mid-import, a round trip.
@Suite(.serialized) struct ImportExportTests {
    struct ImportRow: Decodable {
        struct RowError: Decodable, Equatable {
            var row: Int
            var reason: String
        }
        var id: String
        var status: String
        var totalRows: Int?
        var inserted: Int?
        var updated: Int?
        var skipped: Int?
        var errorLog: [RowError]
        var errorCount: Int?
        var error: String?
    }

    static func imports(_ binary: SpoolBinary) throws -> [ImportRow] {
        try JSONDecoder().decode([ImportRow].self, from: Data(try binary.run(["imports", "--json"]).stdout.utf8))
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func badRowsAreListedWhileEveryGoodRowIsImported() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let server = try binary.serve(log: "serve")
        defer { server.stop(SIGKILL) }
        let csv = workspace.directory + "/contacts.csv"
        try Self.write(
            "\u{FEFF}E-mail,First Name,Last Name,Company Name,Phone\r\n"  // row 1
                + "ann@example.com,Ann,Lee,\"Lee, Lee & \"\"Co\"\"\",+1 555 0100\r\n"  // 2 good
                + ",No,Email,,\r\n"  // 3 missing email
                + "not-an-email,Bad,Email,,\r\n"  // 4 invalid email
                + "  BOB@Example.com ,Bob,\"Multi\nLine\",,\r\n"  // 5 good (trimmed, lower-cased)
                + "\r\n"  // 6 blank
                + "ann@example.com,Ann,Again,,\r\n"  // 7 duplicate of row 2
                + "cy@example.com,Cy,Too,Many,Columns,Here\r\n"  // 8 too many columns
                + "dee@exa\"mple.com,Dee,,,\r\n"  // 9 bad quoting
                + "\"eve@example.com\"x,Eve,,,\r\n"  // 10 bad quoting
                + "fay@example.com,Fay,,,",  // 11 good, no final newline
            to: csv)
        let output = try binary.run(["import", csv, "--workspace", ids.workspaceId, "--user", ids.userId])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        #expect(output.stdout.contains("status completed"))

        let record = try #require(try Self.imports(binary).first)
        #expect(record.status == "completed")
        #expect(record.inserted == 3 && record.updated == 0 && record.skipped == 6, "\(record)")
        #expect(record.totalRows == 9)
        #expect(record.errorLog.map(\.row) == [3, 4, 7, 8, 9, 10])
        let reasons = Dictionary(uniqueKeysWithValues: record.errorLog.map { ($0.row, $0.reason) })
        #expect(reasons[3] == "missing email")
        #expect(reasons[4]?.contains("invalid email") == true)
        #expect(reasons[7]?.contains("duplicate of row 2") == true)
        #expect(reasons[8]?.contains("6 fields") == true)
        #expect(reasons[9]?.contains("quot") == true && reasons[10]?.contains("quot") == true)

        let exported = try binary.run(["export", "--workspace", ids.workspaceId, "--user", ids.userId])
        #expect(exported.status == 0, "\(exported.stderr)")
        let url = try #require(exported.stdout.split(separator: "\n").first { $0.hasPrefix("file ") }).dropFirst(5)
        let text = try String(contentsOf: URL(string: String(url))!, encoding: .utf8)
        // The demo workspace has contacts of its own; these are the imported rows, as exported.
        let expected = [
            #"ann@example.com,Ann,Lee,"Lee, Lee & ""Co""","'+1 555 0100""#, "bob@example.com,Bob,\"Multi\nLine\",,",
            "fay@example.com,Fay,,,",
        ]
        for line in expected {
            #expect(text.contains("\n" + line + "\n"), "the export has \(line); the + phone is neutralised: \(text)")
        }
        #expect(text.hasPrefix("Email,First Name,Last Name,Company Name,Phone\n"))
        server.stop(SIGTERM)
    }

    @Test func anImportKilledHalfwayResumesAtTheFirstUnfinishedChunk() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let csv = workspace.directory + "/contacts.csv"
        let generated = try binary.run(["demo", "csv", "--rows", "60000", "--seed", "9", "--out", csv])
        #expect(generated.status == 0)
        let sent = try binary.run(["import", csv, "--workspace", ids.workspaceId, "--user", ids.userId, "--no-wait"])
        #expect(sent.status == 0, "\(sent.stderr)")

        let first = try binary.serve(["--concurrency", "1"], log: "serve-1")
        var run: RunLocation?
        try await waitUntil("40 chunks imported") {
            run = try workspace.runs(in: ["runs"]).first
            guard let run else { return false }
            return try Disk.listVisible(run.directory + "/steps").filter { $0.hasPrefix("process-chunk-") }.count >= 40
        }
        first.stop(SIGKILL)
        let live = try #require(run)
        let finishedBeforeKill = Set(
            try Disk.listVisible(live.directory + "/steps").filter { $0.hasPrefix("process-chunk-") })
        let chunkCount = try Disk.listVisible(live.directory + "/chunks").filter { $0.hasSuffix(".csv") }.count
        #expect(finishedBeforeKill.count < chunkCount, "the kill lands before the last chunk")

        let second = try binary.serve(log: "serve-2")
        defer { second.stop(SIGKILL) }
        try await waitUntil("the import completes") { try workspace.runs(in: ["done"]).count == 1 }
        second.stop(SIGTERM)

        let done = try #require(try workspace.runs(in: ["done"]).first)
        #expect(Disk.isDirectory(done.directory + "/chunks") && Disk.isDirectory(done.directory + "/steps"))
        let log = RunLog.read(done.directory + "/log.jsonl")
        let restart = try #require(log.lastIndex { $0.kind == .started })
        let afterRestart = log[restart...].filter { $0.kind == .stepCompleted }.compactMap(\.step)
        #expect(!afterRestart.isEmpty)
        for step in afterRestart {
            #expect(!finishedBeforeKill.contains(step + ".json"), "\(step) finished before the kill and ran again")
        }
        let completions = log.filter { $0.kind == .stepCompleted }.compactMap(\.step)
        #expect(completions.count == Set(completions).count, "every step completed once")

        // The generator's own tally: 60,000 rows, each either a unique valid email or skipped with a reason.
        let tally = generated.stderr
        let record = try #require(try Self.imports(binary).first)
        #expect(record.status == "completed")
        #expect(tally.contains("\(record.inserted ?? -1) valid unique emails"), "\(tally) vs \(record)")
        #expect(record.updated == 0)
        #expect((record.inserted ?? 0) + (record.skipped ?? 0) == 60_000)
    }

    @Test func anImportCancelledMidwayIsMarkedFailedSayingSo() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let csv = workspace.directory + "/contacts.csv"
        #expect(try binary.run(["demo", "csv", "--rows", "60000", "--seed", "3", "--out", csv]).status == 0)
        let sent = try binary.run(["import", csv, "--workspace", ids.workspaceId, "--user", ids.userId, "--no-wait"])
        #expect(sent.status == 0, "\(sent.stderr)")
        let server = try binary.serve(["--concurrency", "1"], log: "serve")
        defer { server.stop(SIGKILL) }
        var run: RunLocation?
        try await waitUntil("a chunk imported") {
            run = try workspace.runs(in: ["runs"]).first
            guard let run else { return false }
            return try Disk.listVisible(run.directory + "/steps").contains { $0.hasPrefix("process-chunk-") }
        }
        let cancelled = try binary.run(["cancel", try #require(run).id.rawValue])
        #expect(cancelled.status == 0 && cancelled.stdout.contains("cancelled"), "\(cancelled.stderr)")
        try await waitUntil("the import is marked failed") { try Self.imports(binary).first?.status == "failed" }
        server.stop(SIGTERM)

        #expect(try workspace.runs(in: ["cancelled"]).map(\.id) == [try #require(run).id])
        let record = try #require(try Self.imports(binary).first)
        #expect(record.error == "cancelled: `spool cancel` stopped run \(try #require(run).id)")
        #expect(try Disk.listVisible(workspace.spool + "/outbox").isEmpty, "nobody is emailed")
    }

    @Test func anExportRoundTripsThroughImportUnchanged() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let server = try binary.serve(log: "serve")
        defer { server.stop(SIGKILL) }
        let csv = workspace.directory + "/contacts.csv"
        #expect(try binary.run(["demo", "csv", "--rows", "3000", "--seed", "3", "--out", csv]).status == 0)
        #expect(try binary.run(["import", csv, "--workspace", ids.workspaceId, "--user", ids.userId]).status == 0)

        func export() throws -> (url: URL, text: String, contacts: Int) {
            let output = try binary.run(["export", "--workspace", ids.workspaceId, "--user", ids.userId])
            #expect(output.status == 0, "\(output.stderr)")
            let lines = output.stdout.split(separator: "\n")
            let url = URL(string: String((lines.first { $0.hasPrefix("file ") } ?? "").dropFirst(5)))!
            let status = lines.first { $0.hasPrefix("status completed: ") } ?? ""
            let contacts = Int(status.dropFirst("status completed: ".count).split(separator: " ").first ?? "") ?? -1
            return (url, try String(contentsOf: url, encoding: .utf8), contacts)
        }
        let first = try export()
        let reimport = try binary.run([
            "import", first.url.path(percentEncoded: false), "--workspace", ids.workspaceId, "--user", ids.userId,
        ])
        #expect(reimport.status == 0, "\(reimport.stderr)")
        let record = try #require(try Self.imports(binary).first)
        #expect(record.inserted == 0 && record.skipped == 0, "re-importing the export changes nothing: \(record)")
        #expect(first.contacts > 2000)
        #expect(record.updated == first.contacts, "every exported contact is found again")
        let second = try export()
        #expect(second.text == first.text, "the export of the re-imported contacts is byte-identical")

        let exportRun = try #require(
            try workspace.runs(in: ["done"]).first { $0.id.rawValue.contains("process-export") })
        #expect(Disk.isDirectory(exportRun.directory + "/parts") && Disk.isDirectory(exportRun.directory + "/steps"))
        server.stop(SIGTERM)
    }
}
