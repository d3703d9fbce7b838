import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// `spool backup` and `spool freeze`/`thaw` while events flow; a restore completes what was accepted.
@Suite(.serialized) struct BackupTests {
    @Test func aBackupUnderLoadRestoresIntoASpoolThatFinishesEveryAcceptedRun() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let csv = workspace.directory + "/contacts.csv"
        _ = try binary.run(["demo", "csv", "--rows", "20000", "--seed", "4", "--out", csv])
        let server = try binary.serve(log: "serve")
        defer { server.stop(SIGKILL) }
        #expect(
            try binary.run(["import", csv, "--workspace", ids.workspaceId, "--user", ids.userId, "--no-wait"]).status
                == 0)
        try ServeTests.dropWelcomes(300, for: ids, into: workspace.layout)
        try await waitUntil("work is under way") { try workspace.runs(in: ["done"]).count >= 20 }

        let restored = workspace.directory + "/restored"
        let backup = try binary.run(["backup", restored])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("paused for"))
        let copy = SpoolLayout(root: restored)
        let accepted = try Set(RunLocator(layout: copy).all().map(\.id))
        let waiting =
            try Disk.listVisible(copy.incoming).count
            + Disk.list(copy.tmp).filter { $0.hasPrefix(".claim-") }.count
        #expect(accepted.count + waiting > 0)

        try await waitUntil("the original finishes its 301 runs, having kept running", seconds: 120) {
            try workspace.runs(in: ["done"]).count == 301
        }
        server.stop(SIGTERM)

        let restoredBinary = try SpoolBinary(spool: restored)
        let restoredServer = try restoredBinary.serve(log: "restored")
        defer { restoredServer.stop(SIGKILL) }
        try await waitUntil("the restored spool finishes its work") {
            try Disk.listVisible(copy.runs).isEmpty && Disk.listVisible(copy.incoming).isEmpty
        }
        let finished = try RunLocator(layout: copy).all(in: ["done"])
        #expect(try RunLocator(layout: copy).all(in: ["failed", "cancelled"]).isEmpty)
        #expect(accepted.isSubset(of: Set(finished.map(\.id))), "every run in the backup completes")
        #expect(finished.count == accepted.count + waiting, "and so does every event waiting in it")
        let imports = try restoredBinary.run(["imports", "--json"]).stdout
        #expect(imports.contains(#""status" : "completed""#), "the import completes in the restored spool")
        restoredServer.stop(SIGTERM)
    }

    @Test func aCommandOnAFrozenSpoolSaysItWaitsForTheThawThenCarriesOn() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        #expect(try binary.run(["freeze"]).status == 0)
        let send = try binary.start(
            ["send", "user/signed.up", "--data", #"{"userId":"\#(ids.userId)"}"#, "--spool", workspace.spool],
            log: "send")
        defer { send.stop(SIGKILL) }
        try await waitUntil("send says it waits") {
            workspace.log("send").contains("is frozen (`spool freeze`); waiting until `spool thaw --spool")
        }
        #expect(send.isRunning)
        #expect(try Disk.listVisible(workspace.layout.incoming).isEmpty, "nothing is published while frozen")

        #expect(try binary.run(["thaw"]).status == 0)
        try await waitUntil("send finishes after the thaw") { !send.isRunning }
        #expect(send.terminationStatus == 0, "\(workspace.log("send"))")
        #expect(try Disk.listVisible(workspace.layout.incoming).count == 1)
    }

    @Test func freezeAndThawAroundAPlainCopy() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let server = try binary.serve(log: "serve")
        defer { server.stop(SIGKILL) }
        try ServeTests.dropWelcomes(200, for: ids, into: workspace.layout)
        try await waitUntil("work is under way") { try workspace.runs(in: ["done"]).count >= 10 }
        let frozen = try binary.run(["freeze"])
        #expect(frozen.status == 0 && frozen.stdout.contains("is frozen"), "\(frozen.stderr)")
        let copy = workspace.directory + "/copy"
        let cp = Process()
        cp.executableURL = URL(fileURLWithPath: "/bin/cp")
        cp.arguments = ["-a", workspace.spool, copy]
        try cp.run()
        cp.waitUntilExit()
        #expect(try binary.run(["thaw"]).stdout.contains("thawed"))
        try? FileManager.default.removeItem(atPath: copy + "/.frozen")

        let copyLayout = SpoolLayout(root: copy)
        let inCopy = try RunLocator(layout: copyLayout).all().count + Disk.listVisible(copyLayout.incoming).count
        let copyServer = try SpoolBinary(spool: copy).serve(log: "copy")
        defer { copyServer.stop(SIGKILL) }
        try await waitUntil("the copy finishes") {
            try Disk.listVisible(copyLayout.runs).isEmpty && Disk.listVisible(copyLayout.incoming).isEmpty
        }
        #expect(try RunLocator(layout: copyLayout).all(in: ["done"]).count == inCopy)
        try await waitUntil("the original finishes") { try workspace.runs(in: ["done"]).count == 200 }
        copyServer.stop(SIGTERM)
        server.stop(SIGTERM)
    }
}
