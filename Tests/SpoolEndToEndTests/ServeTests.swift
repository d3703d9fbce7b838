import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// The built binary on a real spool: what a new user does, crashes, and two servers at once.
@Suite(.serialized) struct ServeTests {
    static func seed(_ binary: SpoolBinary) throws -> DemoIDs {
        let output = try binary.run(["demo", "seed"])
        #expect(output.status == 0, "demo seed failed: \(output.stderr)")
        return try JSONDecoder().decode(DemoIDs.self, from: Data(output.stdout.utf8))
    }

    /// Writes one welcome event per file, the way any producer would: a file in tmp/, then a rename.
    static func dropWelcomes(_ count: Int, for ids: DemoIDs, into layout: SpoolLayout) throws {
        try layout.create()
        for index in 0..<count {
            let body =
                #"{"name":"user/signed.up","data":{"userId":"\#(ids.userId)","workspaceId":"\#(ids.workspaceId)","n":\#(index)}}"#
            let name = String(format: "e%05d.json", index)
            try Data(body.utf8).write(to: URL(fileURLWithPath: layout.tmp + "/" + name))
            try Disk.rename(layout.tmp + "/" + name, layout.incoming + "/" + name)
        }
    }

    /// Completed-step log entries per step of a run; a step that re-ran after its file existed shows twice.
    static func completions(_ run: RunLocation) -> [String: Int] {
        var counts: [String: Int] = [:]
        for entry in RunLog.read(run.directory + "/log.jsonl") where entry.kind == .stepCompleted {
            counts[entry.step ?? "?", default: 0] += 1
        }
        return counts
    }

    @Test func aWelcomeEmailFromSendToDone() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try Self.seed(binary)
        #expect(try Self.seed(binary).userId == ids.userId, "seeding twice returns the same ids")
        let server = try binary.serve(log: "serve")
        defer { server.stop(SIGKILL) }

        let sent = try binary.run([
            "send", "user/signed.up", "--data", #"{"userId":"\#(ids.userId)","workspaceId":"\#(ids.workspaceId)"}"#,
        ])
        #expect(sent.status == 0, "\(sent.stderr)")
        let eventID = sent.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!eventID.isEmpty)

        let today = UTCTime.day(Date())
        try await waitUntil("the run is in done/\(today)/") { try workspace.runs(in: ["done"]).count == 1 }
        let run = try #require(try workspace.runs(in: ["done"]).first)
        #expect(run.directory.contains("/done/\(today)/"))
        #expect(Disk.exists(run.directory + "/steps/fetch-user.json"))
        #expect(Disk.exists(run.directory + "/steps/send-welcome-email.json"))
        let record = try RunRecord.read(from: run.directory + "/run.json")
        #expect(record.eventID == eventID)
        #expect(record.status == .completed)

        let outbox = try Disk.listVisible(workspace.spool + "/outbox")
        #expect(outbox.count == 1 && outbox[0].hasSuffix(".eml"))
        let email = String(decoding: try Disk.read(workspace.spool + "/outbox/" + outbox[0]), as: UTF8.self)
        #expect(email.contains("To: "))
        #expect(email.contains("demo@folksbase.test"))
        #expect(email.contains("Message-ID: <"))

        let listed = try binary.run(["runs", "--status", "completed", "--json"])
        #expect(listed.stdout.contains(run.id.rawValue))
        let shown = try binary.run(["show", run.id.rawValue])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("fetch-user") && shown.stdout.contains("send-welcome-email"))
        #expect(shown.stdout.contains("completed"))

        server.stop(SIGTERM)
        #expect(server.terminationStatus == 0, "SIGTERM stops the server cleanly: \(workspace.log("serve"))")

        for path in try FileManager.default.subpathsOfDirectory(atPath: workspace.spool) {
            var info = stat()
            #expect(lstat(workspace.spool + "/" + path, &info) == 0)
            #expect(
                info.st_mode & 0o077 == 0, "\(path) is readable by others: \(String(info.st_mode & 0o777, radix: 8))")
        }
    }

    @Test func sendWarnsOfAnIDTheServerHasTakenAlready() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try Self.seed(binary)
        let server = try binary.serve(log: "serve")
        defer { server.stop(SIGKILL) }
        let data = #"{"userId":"\#(ids.userId)"}"#
        let first = try binary.run(["send", "user/signed.up", "--data", data, "--id", "signup-1"])
        #expect(first.status == 0 && first.stderr.isEmpty, "\(first.stderr)")
        try await waitUntil("the id is taken") {
            SpoolAdmin(layout: workspace.layout).eventAcceptedAt("signup-1") != nil
        }
        let again = try binary.run(["send", "user/signed.up", "--data", data, "--id", "signup-1"])
        #expect(again.status == 0 && again.stderr.contains(#"an event with id "signup-1" was accepted at"#))
        server.stop(SIGTERM)
    }

    @Test func killNineMidRunsThenRestartFinishesEveryRunOnce() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try Self.seed(binary)
        let total = 300
        try Self.dropWelcomes(total, for: ids, into: workspace.layout)

        var kills = 0
        for round in 0..<3 {
            let server = try binary.serve(["--concurrency", "8"], log: "serve-\(round)")
            // Kills at an eighth, a quarter and three eighths of the work: a server the waiting below
            // lags behind on a loaded machine still has most of it left when the last kill lands.
            let target = (round + 1) * total / 8
            try await waitUntil("\(target) runs done before kill \(round)") {
                try workspace.runs(in: ["done"]).count >= target
            }
            server.stop(SIGKILL)
            kills += 1
        }
        let survivors = try workspace.runs(in: ["runs"]).count + Disk.listVisible(workspace.layout.incoming).count
        let final = try binary.serve(["--concurrency", "8"], log: "serve-final")
        defer { final.stop(SIGKILL) }
        try await waitUntil("all \(total) runs done after \(kills) kills") {
            try workspace.runs(in: ["done"]).count == total
        }
        final.stop(SIGTERM)

        #expect(survivors > 0, "the kills should land while work remains")
        #expect(try workspace.runs(in: ["runs", "failed", "cancelled"]).isEmpty)
        #expect(try Disk.listVisible(workspace.layout.incoming).isEmpty)
        #expect(try Disk.list(workspace.layout.tmp).filter { $0.hasPrefix(".claim-") }.isEmpty)
        for run in try workspace.runs(in: ["done"]) {
            #expect(Disk.exists(run.directory + "/steps/fetch-user.json"))
            #expect(Disk.exists(run.directory + "/steps/send-welcome-email.json"))
            let twice = Self.completions(run).filter { $0.value > 1 }
            #expect(twice.isEmpty, "\(run.id) re-ran a completed step: \(twice)")
        }
        let emails = try Disk.listVisible(workspace.spool + "/outbox").filter { $0.hasSuffix(".eml") }
        #expect(emails.count == total, "one email per run, none duplicated")
    }

    @Test func twoServersOnOneSpoolRunEachRunExactlyOnce() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try Self.seed(binary)
        let total = 400
        let servers = try (0..<2).map { try binary.serve(log: "serve-\($0)") }
        defer { for server in servers { server.stop(SIGKILL) } }
        try Self.dropWelcomes(total, for: ids, into: workspace.layout)
        try await waitUntil("all \(total) runs done") { try workspace.runs(in: ["done"]).count == total }
        for server in servers { server.stop(SIGTERM) }

        var byProcess: [String: Int] = [:]
        for run in try workspace.runs(in: ["done"]) {
            let starts = RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .started }
            #expect(starts.count == 1, "\(run.id) started \(starts.count) times")
            byProcess[starts.first?.by ?? "?", default: 0] += 1
        }
        #expect(byProcess.count == 2, "both servers took work: \(byProcess)")
        #expect(try workspace.runs(in: ["runs", "failed"]).isEmpty)
    }

    @Test func aFailingStepRetriesOnTheBackoffTableThenSucceeds() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try Self.seed(binary)
        // The outbox path is a plain file, so sending fails until it is removed.
        let outbox = workspace.spool + "/outbox"
        try? FileManager.default.removeItem(atPath: outbox)
        #expect(FileManager.default.createFile(atPath: outbox, contents: Data("not a folder".utf8)))
        let server = try binary.serve(["--backoff", "0.3,0.6", "--jitter", "0", "--retries", "5"], log: "serve")
        defer { server.stop(SIGKILL) }
        _ = try binary.run(["send", "user/signed.up", "--data", #"{"userId":"\#(ids.userId)"}"#])

        func record() throws -> RunRecord? {
            try workspace.runs(in: ["runs"]).first.map { try RunRecord.read(from: $0.directory + "/run.json") }
        }
        try await waitUntil("two failed attempts") { try (record()?.attempt ?? 0) >= 2 }
        #expect(try record()?.status == .retrying)
        #expect(try record()?.lastError?.message.contains("outbox") == true)
        try FileManager.default.removeItem(atPath: outbox)
        try await waitUntil("the run completes") { try workspace.runs(in: ["done"]).count == 1 }

        let run = try #require(try workspace.runs(in: ["done"]).first)
        let failures = RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .stepFailed }
        #expect(failures.count >= 2)
        #expect(failures.allSatisfy { $0.step == "send-welcome-email" })
        let delays = failures.prefix(2).compactMap { entry -> Double? in
            guard let at = UTCTime.parseISO8601(entry.at), let wake = entry.wakeAt.flatMap(UTCTime.parseISO8601) else {
                return nil
            }
            return wake.timeIntervalSince(at)
        }
        #expect(delays.count == 2)
        #expect(abs(delays[0] - 0.3) < 0.01 && abs(delays[1] - 0.6) < 0.01, "back-off follows the table: \(delays)")
        let shown = try binary.run(["show", run.id.rawValue, "--json"])
        let detail = try JSONDecoder().decode(RunDetail.self, from: Data(shown.stdout.utf8))
        #expect(detail.steps.first { $0.id == "fetch-user" }?.attempts == 1, "the completed step did not re-run")
        #expect((detail.steps.first { $0.id == "send-welcome-email" }?.attempts ?? 0) >= 3)
        server.stop(SIGTERM)
    }

    @Test func malformedFilesAreRejectedWhileGoodOnesFlow() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try Self.seed(binary)
        let server = try binary.serve(log: "serve")
        defer { server.stop(SIGKILL) }
        let layout = workspace.layout
        let bad = ["{", "[]", #"{"name":""}"#, #"{"name":"nobody/listens"}"#, "\u{0}\u{1}binary"]
        for (index, body) in bad.enumerated() {
            try Data(body.utf8).write(to: URL(fileURLWithPath: layout.tmp + "/bad\(index).json"))
            try Disk.rename(layout.tmp + "/bad\(index).json", layout.incoming + "/bad\(index).json")
        }
        try Self.dropWelcomes(10, for: ids, into: layout)
        // A user that does not exist fails at once (non-retriable), with the reason in run.json.
        _ = try binary.run(["send", "user/signed.up", "--data", #"{"userId":"usr_missing"}"#])
        try await waitUntil("10 done, 5 rejected and kept under their names, 1 failed") {
            try workspace.runs(in: ["done"]).count == 10 && workspace.runs(in: ["failed"]).count == 1
                && Disk.listVisible(layout.rejected).filter { $0.hasSuffix(".reason.json") }.count == bad.count
                && bad.indices.allSatisfy { Disk.exists(layout.rejected + "/bad\($0).json") }
        }
        let failed = try #require(try workspace.runs(in: ["failed"]).first)
        let record = try RunRecord.read(from: failed.directory + "/run.json")
        #expect(record.lastError?.message.contains("usr_missing") == true)
        #expect(record.lastError?.nonRetriable == true)

        let retried = try binary.run(["retry", failed.id.rawValue])
        #expect(retried.status == 0, "\(retried.stderr)")
        try await waitUntil("the retried run fails again") {
            RunLog.read(failed.directory + "/log.jsonl").filter { $0.kind == .failed }.count == 2
        }
        let replayed = try binary.run(["replay", failed.id.rawValue])
        #expect(replayed.status == 0)
        let replayID = replayed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await waitUntil("the replay fails too") { try workspace.runs(in: ["failed"]).count == 2 }
        #expect(try workspace.runs(in: ["failed"]).map(\.id.rawValue).contains(replayID))

        // Both at once, as Sidekiq's "retry all" or Postfix's `postsuper -r ALL`.
        let failures = { (run: RunLocation) in RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .failed } }
        let before = try workspace.runs(in: ["failed"]).map { failures($0).count }.reduce(0, +)
        let all = try binary.run(["retry", "--all-failed", "--function", "send-welcome"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains("2 of 2 failed runs queued again"), "\(all.stdout)")
        try await waitUntil("both fail again") {
            let runs = try workspace.runs(in: ["failed"])
            return runs.count == 2 && runs.map { failures($0).count }.reduce(0, +) == before + 2
        }
        let none = try binary.run(["retry", "--all-failed", "--function", "weekly-digest"])
        #expect(none.status == 0 && none.stdout.contains("no failed runs of weekly-digest"), "\(none.stdout)")
        server.stop(SIGTERM)
    }
}
