import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// Random SIGKILLs under mixed load, and many servers on one spool: nothing accepted is lost,
/// nothing finished is done twice. `SPOOL_SOAK_KILLS` and `SPOOL_SOAK_EVENTS` size the run.
@Suite(.serialized) struct CrashSoakTests {
    static let table = FaultTable(file: "crash.md", title: "Crashes and many workers")

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func randomKillsUnderMixedLoadLoseNothingAndRepeatNothing() async throws {
        let kills = profile("SPOOL_SOAK_KILLS", 6)
        let welcomes = profile("SPOOL_SOAK_EVENTS", 300)
        let seed = UInt64(profile("SPOOL_SOAK_SEED", Int(Date().timeIntervalSince1970) % 100_000))
        var random = SplitMix(state: seed)
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let csv = workspace.directory + "/contacts.csv"
        let generated = try binary.run(["demo", "csv", "--rows", "20000", "--seed", "11", "--out", csv])
        let valid = Int(generated.stderr.split(separator: ":").last?.split(separator: " ").first ?? "") ?? -1
        try ServeTests.dropWelcomes(welcomes, for: ids, into: workspace.layout)
        #expect(
            try binary.run(["import", csv, "--workspace", ids.workspaceId, "--user", ids.userId, "--no-wait"]).status
                == 0)

        var exportSent = false
        for round in 0..<kills {
            let server = try binary.serve(["--concurrency", "4"], log: "serve-\(round)")
            let lifetime = Double.random(in: 0.3...1.5, using: &random)
            let deadline = Date().addingTimeInterval(lifetime)
            while Date() < deadline && server.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            server.stop(SIGKILL)
            if !exportSent, try Self.importFinished(binary) {
                #expect(
                    try binary.run(["export", "--workspace", ids.workspaceId, "--user", ids.userId, "--no-wait"]).status
                        == 0)
                exportSent = true
            }
        }
        let final = try binary.serve(log: "serve-final")
        defer { final.stop(SIGKILL) }
        try await waitUntil("the import finishes", seconds: 180) { try Self.importFinished(binary) }
        if !exportSent {
            #expect(
                try binary.run(["export", "--workspace", ids.workspaceId, "--user", ids.userId, "--no-wait"]).status
                    == 0)
        }
        let expectedRuns = welcomes + 2
        try await waitUntil("every run is done", seconds: 180) {
            try workspace.runs(in: ["done"]).count == expectedRuns && Disk.listVisible(workspace.layout.runs).isEmpty
        }
        final.stop(SIGTERM)

        #expect(try workspace.runs(in: ["failed", "cancelled"]).isEmpty)
        #expect(try Disk.listVisible(workspace.layout.incoming).isEmpty)
        #expect(try Disk.list(workspace.layout.tmp).filter { $0.hasPrefix(".claim-") }.isEmpty)
        var repeated: [String] = []
        for run in try workspace.runs(in: ["done"]) {
            for step in try Disk.listVisible(run.directory + "/steps") where step.hasSuffix(".json") {
                #expect(
                    (try? JSONSerialization.jsonObject(with: Disk.read(run.directory + "/steps/" + step))) != nil,
                    "\(run.id)/\(step) does not parse")
            }
            repeated += ServeTests.completions(run).filter { $0.value > 1 }.map { "\(run.id)/\($0.key)" }
        }
        #expect(repeated.isEmpty, "steps completed twice: \(repeated)")
        let imports = try ImportExportTests.imports(binary)
        #expect(
            imports.first?.inserted == valid, "exact contact count: \(String(describing: imports.first)) vs \(valid)")
        #expect((imports.first?.inserted ?? 0) + (imports.first?.skipped ?? 0) == 20_000)
        let exports = try binary.run(["exports", "--json"]).stdout
        #expect(exports.contains(#""rowCount" : \#(valid + 5)"#), "the export has every contact once: \(exports)")

        let emails = try Disk.listVisible(workspace.spool + "/outbox").filter { $0.hasSuffix(".eml") }
        var messageIDs = Set<String>()
        for email in emails {
            let text = String(decoding: try Disk.read(workspace.spool + "/outbox/" + email), as: UTF8.self)
            let id = text.split(separator: "\r\n").first { $0.hasPrefix("Message-ID:") }.map(String.init) ?? email
            #expect(messageIDs.insert(id).inserted, "\(id) is in the outbox twice")
        }
        #expect(emails.count == welcomes + 2, "one welcome per event plus the import and export notices")
        Self.table.add(
            "SIGKILL at random moments (seed \(seed))", "\(welcomes) welcome events, a 20,000-row import, an export",
            "\(kills) kills",
            repeated.isEmpty && emails.count == welcomes + 2
                ? "every run done once; counts exact; no duplicate email" : "FAILED")
        try Self.table.write()
    }

    @Test func fourServersShareOneSpoolAndRunEachRunOnce() async throws {
        let total = profile("SPOOL_SOAK_WORKERS_EVENTS", 600)
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let servers = try (0..<4).map { try binary.serve(log: "serve-\($0)") }
        defer { for server in servers { server.stop(SIGKILL) } }
        try ServeTests.dropWelcomes(total, for: ids, into: workspace.layout)
        try await waitUntil("all \(total) runs done", seconds: 180) { try workspace.runs(in: ["done"]).count == total }
        for server in servers { server.stop(SIGTERM) }
        var byProcess: [String: Int] = [:]
        var overlapping = 0
        for run in try workspace.runs(in: ["done"]) {
            let log = RunLog.read(run.directory + "/log.jsonl")
            let starts = log.filter { $0.kind == .started }
            #expect(starts.count == 1, "\(run.id) started \(starts.count) times")
            let writers = Set(log.filter { $0.kind != .created }.compactMap(\.by))
            if writers.count > 1 { overlapping += 1 }
            byProcess[starts.first?.by ?? "?", default: 0] += 1
        }
        #expect(overlapping == 0, "each run is executed by one process")
        #expect(byProcess.count == 4, "all four servers took work: \(byProcess)")
        #expect(try workspace.runs(in: ["runs", "failed"]).isEmpty)
        Self.table.add(
            "4 servers on one spool", "\(total) welcome events", "1",
            "each run started once, by one process (\(byProcess.values.sorted().map(String.init).joined(separator: "/")) runs each)"
        )
        try Self.table.write()
    }

    static func importFinished(_ binary: SpoolBinary) throws -> Bool {
        try ImportExportTests.imports(binary).first.map { $0.status == "completed" } ?? false
    }
}
