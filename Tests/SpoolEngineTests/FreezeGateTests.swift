import Foundation
import Testing

@testable import SpoolEngine

@Suite struct FreezeGateTests {
    @Test func freezingWaitsForWritesInFlightAndHoldsNewOnesUntilThawed() async throws {
        let spool = try TempSpool()
        let gate = FreezeGate(layout: spool.layout)
        let mutation = HeldMutation(gate)
        #expect(throws: SpoolError.self, "a write in flight keeps the freeze from completing") {
            try gate.freeze(timeout: .milliseconds(100))
        }
        #expect(!gate.isFrozen, "a freeze that timed out thaws again")
        mutation.end()
        try gate.freeze(timeout: .seconds(10))
        #expect(gate.isFrozen)

        let wrote = LockedValue(false)
        let writer = DurableWriter(gate: gate)
        let write = Task {
            try await writer.publish(Data("x".utf8), at: spool.layout.root + "/while-frozen")
            wrote.withLock { $0 = true }
        }
        #expect(!wrote.withLock { $0 })
        #expect(!Disk.exists(spool.layout.root + "/while-frozen"))
        try gate.thaw()
        try await write.value
        #expect(Disk.exists(spool.layout.root + "/while-frozen"))
    }

    @Test func aFreezeThatTimesOutLeavesAUsersFreezeAndABackupRefusesToEndIt() throws {
        let spool = try TempSpool()
        let gate = FreezeGate(layout: spool.layout)
        let mutation = HeldMutation(gate)
        // The user's freeze, marked while a mutation is still in flight (as a second freeze would find it).
        try DurableWriter.publishNow(Data("user".utf8), at: gate.markerPath)
        #expect(throws: SpoolError.self) { try gate.freeze(timeout: .milliseconds(100)) }
        mutation.end()
        #expect(gate.isFrozen, "the freeze that was there stays")

        let error = #expect(throws: SpoolError.self) {
            try SpoolBackup(layout: spool.layout).backup(to: spool.layout.root + "-copy")
        }
        #expect(error?.message.contains("is frozen") == true, "\(String(describing: error))")
        #expect(gate.isFrozen, "a refused backup leaves the user's freeze in place")
        #expect(!Disk.exists(spool.layout.root + "-copy"))
        try gate.thaw()
    }

    @Test func overlappingMutationsOfOneProcessHoldTheFreezeOffUntilTheLastEnds() throws {
        let spool = try TempSpool()
        let gate = FreezeGate(layout: spool.layout)
        let first = HeldMutation(gate)
        // A second mutation starts and ends while the first runs; the first still holds the lock.
        try gate.whileThawed {}
        #expect(throws: SpoolError.self, "the first mutation is still in flight") {
            try gate.freeze(timeout: .milliseconds(100))
        }
        first.end()
        try gate.freeze(timeout: .seconds(10))
        #expect(gate.isFrozen)
        try gate.thaw()
        // After the last holder left, the lock is taken afresh by the next mutation.
        try gate.whileThawed { #expect(!gate.isFrozen) }
    }

    @Test func aBackupLinksPublishedFilesAndCopiesThoseChangedInPlace() throws {
        let spool = try TempSpool()
        let run = spool.layout.runs + "/r1"
        try Disk.makeDirectories(run + "/steps")
        try DurableWriter.publishNow(Data("{}".utf8), at: run + "/run.json")
        try DurableWriter.publishNow(Data("line\n".utf8), at: run + "/log.jsonl")
        try DurableWriter.publishNow(Data("db".utf8), at: spool.layout.root + "/app.sqlite")
        try DurableWriter.publishNow(Data("claim".utf8), at: spool.layout.tmp + "/.claim-x~e.json")
        try DurableWriter.publishNow(Data("temp".utf8), at: run + "/.run.json.tmp-1")
        let destination = spool.layout.root + "-backup"
        defer { try? Disk.removeTree(destination) }
        let report = try SpoolBackup(layout: spool.layout).backup(to: destination)
        #expect(report.files == 4)
        #expect(try Disk.read(destination + "/runs/r1/log.jsonl") == Data("line\n".utf8))
        #expect(Disk.exists(destination + "/tmp/.claim-x~e.json"), "claims in flight are accepted work")
        #expect(!Disk.exists(destination + "/runs/r1/.run.json.tmp-1"), "temp files are not")
        #expect(!FreezeGate(layout: spool.layout).isFrozen)
        #expect(try Disk.list(spool.layout.root).allSatisfy { !$0.hasPrefix(".backup-") }, "the snapshot is removed")
        #expect(throws: SpoolError.self) { try SpoolBackup(layout: spool.layout).backup(to: destination) }
        #expect(throws: SpoolError.self) { try SpoolBackup(layout: spool.layout).backup(to: spool.layout.runs + "/x") }
    }

    @Test func aBackupKeepsRunJSONAsItWasWhileFrozenThoughItsInodeIsRewrittenAfter() async throws {
        let spool = try TempSpool()
        let record = spool.layout.runs + "/r1/run.json"
        try Disk.makeDirectories(spool.layout.runs + "/r1")
        let writer = DurableWriter()
        try await writer.replace(Data("first".utf8), at: record)
        try await writer.replace(Data("frozen".utf8), at: record)
        let destination = spool.layout.root + "-backup"
        defer { try? Disk.removeTree(destination) }
        // The next replace writes into the spare, the inode of "first"; the one after, into "frozen"'s.
        let whileThawed = {
            for version in ["later", "latest"] {
                let spare = DurableWriter.spare(of: record)
                let fd = open(spare, O_WRONLY)
                defer { close(fd) }
                try Disk.overwrite(fd, with: Data(version.utf8), path: spare)
                try Disk.exchange(spare, record)
            }
        }
        _ = try SpoolBackup(layout: spool.layout).backup(
            to: destination, freezeTimeout: .seconds(5), whileThawed: whileThawed)
        #expect(try Disk.read(destination + "/runs/r1/run.json") == Data("frozen".utf8))
        #expect(try Disk.read(record) == Data("latest".utf8))
        #expect(!Disk.exists(DurableWriter.spare(of: destination + "/runs/r1/run.json")), "spares are not backed up")
    }
}

/// A mutation on a thread of its own, inside the gate from `init` until `end()`.
private final class HeldMutation: Sendable {
    private let release = DispatchSemaphore(value: 0)
    private let ended = DispatchSemaphore(value: 0)

    init(_ gate: FreezeGate) {
        let inside = DispatchSemaphore(value: 0)
        Thread { [release, ended] in
            _ = try? gate.whileThawed {
                inside.signal()
                release.wait()
            }
            ended.signal()
        }.start()
        inside.wait()
    }

    /// Lets the mutation finish and waits until it has left the gate.
    func end() {
        release.signal()
        ended.wait()
    }
}
