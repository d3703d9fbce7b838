import Foundation
import TestServers
import Testing

@testable import SpoolEngine

@Suite struct IntakeTests {
    static func noop(_ id: String, _ event: String) -> SpoolFunction {
        SpoolFunction(id: id, trigger: .event(event), handler: { _ in })
    }

    @Test func anEventBecomesARunDirectory() async throws {
        let harness = try Harness([Self.noop("welcome", "user/signed.up")])
        let ids = try await harness.send(#"{"name":"user/signed.up","data":{"userId":"u1"},"id":"e1"}"#)
        #expect(ids.count == 1)
        let directory = harness.layout.liveRun(ids[0])
        let record = try harness.spool.record(directory)
        #expect(record.status == .queued)
        #expect(record.function == "welcome")
        #expect(record.eventID == "e1")
        let event = try RunExecutor.readEvent(directory: directory)
        #expect(event.data["userId"]?.stringValue == "u1")
        #expect(event.ts != nil)
        #expect(Disk.isDirectory(directory + "/steps"))
        #expect(try Disk.listVisible(harness.layout.incoming).isEmpty)
        #expect(try Disk.list(harness.layout.tmp).isEmpty)
        #expect(ids[0].rawValue.contains("-welcome-"))
    }

    @Test func anArrayFansOutToEveryMatchingFunction() async throws {
        let harness = try Harness([
            Self.noop("a", "x/happened"), Self.noop("b", "x/happened"), Self.noop("c", "y/happened"),
        ])
        let ids = try await harness.send(#"[{"name":"x/happened"},{"name":"y/happened"}]"#)
        let functions = try ids.map { try harness.spool.record(harness.layout.liveRun($0)).function }.sorted()
        #expect(functions == ["a", "b", "c"])
    }

    @Test(arguments: [
        ("{not json", "not valid JSON"),
        ("", "empty"),
        ("42", "event object or an array"),
        ("[]", "no events"),
        (#"{"data":{}}"#, "name is missing"),
        (#"{"name":""}"#, "name is empty"),
        (#"{"name":7}"#, "name is not a string"),
        (#"{"name":"x/happened","data":[1]}"#, "data is not an object"),
        (#"{"name":"x/happened","id":5}"#, "id is not a string"),
        (#"{"name":"x/happened","ts":"yesterday"}"#, "ts is not milliseconds"),
        (#"{"name":"nobody/listens"}"#, "no function"),
        (#"[{"name":"x/happened"},{"name":"nobody/listens"}]"#, "no function"),
    ])
    func badInputIsRejectedWithAReason(json: String, expected: String) async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let name = try harness.spool.drop(json, name: "bad.json")
        #expect(try await harness.intake.accept(name).isEmpty)
        #expect(Disk.exists(harness.layout.rejected + "/bad.json"))
        let reason = String(decoding: try Disk.read(harness.layout.rejected + "/bad.json.reason.json"), as: UTF8.self)
        #expect(reason.contains(expected), "reason was \(reason)")
        #expect(try Disk.listVisible(harness.layout.runs).isEmpty)
        #expect(try String(decoding: Disk.read(harness.layout.rejected + "/bad.json"), as: UTF8.self) == json)
    }

    @Test func nonUTF8AndBinaryAreRejected() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let staged = harness.layout.tmp + "/bin.json"
        try Data([0xFF, 0xFE, 0x00, 0x7B]).write(to: URL(fileURLWithPath: staged))
        try Disk.rename(staged, harness.layout.incoming + "/bin.json")
        _ = try await harness.intake.accept("bin.json")
        #expect(Disk.exists(harness.layout.rejected + "/bin.json.reason.json"))
    }

    @Test func aDirectoryOrSymlinkDroppedIntoIncomingIsRejected() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        try Disk.makeDirectory(harness.layout.incoming + "/dir.json")
        _ = try await harness.intake.accept("dir.json")
        #expect(Disk.exists(harness.layout.rejected + "/dir.json.reason.json"))
        #expect(symlink("/etc/passwd", harness.layout.incoming + "/link.json") == 0)
        _ = try await harness.intake.accept("link.json")
        #expect(Disk.exists(harness.layout.rejected + "/link.json.reason.json"))
        #expect(try Disk.listVisible(harness.layout.runs).isEmpty)
    }

    @Test func aSecondRejectionOfTheSameNameKeepsBoth() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        for _ in 0..<2 { _ = try await harness.intake.accept(try harness.spool.drop("{", name: "same.json")) }
        #expect(try Disk.listVisible(harness.layout.rejected).filter { !$0.hasSuffix(".reason.json") }.count == 2)
    }

    /// A reason without its file, or a file without its reason (a crash, or a hand), keeps the name.
    @Test(arguments: ["same.json.reason.json", "same.json"])
    func whatIsLeftInRejectedKeepsItsNameAndANewRejectionGetsItsOwn(leftover name: String) async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let rejected = harness.layout.rejected
        try Data("left here".utf8).write(to: URL(fileURLWithPath: rejected + "/" + name))
        _ = try await harness.intake.accept(try harness.spool.drop("{", name: "same.json"))
        #expect(try Disk.read(rejected + "/" + name) == Data("left here".utf8))
        #expect(try Disk.listVisible(rejected).filter { $0.hasPrefix("same.json") } == [name])
        let new = try Disk.listVisible(rejected).filter { $0.hasSuffix("-same.json") }
        #expect(new.count == 1)
        #expect(try Disk.read(rejected + "/" + new[0]) == Data("{".utf8))
        let reason = try Disk.read(rejected + "/" + new[0] + ".reason.json")
        #expect(String(decoding: reason, as: UTF8.self).contains("incoming/same.json"))
    }

    @Test func dotFilesAreNeverWork() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let name = try harness.spool.drop(#"{"name":"x/happened"}"#, name: ".partial.json")
        #expect(try await harness.intake.accept(name).isEmpty)
        #expect(Disk.exists(harness.layout.incoming + "/.partial.json"))
    }

    @Test func aRepeatedEventIDIsIgnoredForADayThenAcceptedAgain() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let event = #"{"name":"x/happened","id":"order-42"}"#
        #expect(try await harness.send(event).count == 1)
        #expect(try await harness.send(event).isEmpty)
        #expect(try Disk.listVisible(harness.layout.incoming).isEmpty, "the duplicate is consumed, not left behind")
        harness.clock.advance(by: 24 * 3600 + 1)
        #expect(try await harness.send(event).count == 1)
    }

    /// Writes the marker of event `order-42` for `claim`, recorded at `date`, as another process would.
    private static func writeMarker(_ markers: DedupeMarkers, claim: String, at date: Date) throws {
        let marker = DedupeMarkers.Marker(eventId: "order-42", claim: claim, runs: [], at: UTCTime.iso8601(date))
        try SpoolJSON.lineEncoder.encode(marker).write(to: URL(fileURLWithPath: markers.path(for: "order-42")))
    }

    /// Two processes may both find a marker expired; the second must not remove the first's new one.
    @Test func anExpiredMarkerIsReplacedOnlyWhileItIsStillTheExpiredOne() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let markers = DedupeMarkers(layout: harness.layout, window: 24 * 3600)
        let path = markers.path(for: "order-42")
        let now = harness.clock.now()
        try Self.writeMarker(markers, claim: "first", at: now.addingTimeInterval(-25 * 3600))
        #expect(markers.judge(path, claim: "second", now: now) == .expired)
        #expect(try await markers.removeExpired(path, now: now))
        #expect(!Disk.exists(path))

        // Judged expired, then replaced by another process before this one came to remove it.
        try Self.writeMarker(markers, claim: "third", at: now)
        #expect(try await !markers.removeExpired(path, now: now))
        #expect(markers.judge(path, claim: "fourth", now: now) == .live)
        #expect(try Disk.listVisible(harness.layout.ids) == [Disk.name(of: path)])
        #expect(try await markers.claim("order-42", claim: "fourth", runs: [], now: now) == false)
    }

    /// A removal waits for the one in progress and judges the marker it then finds.
    @Test func aMarkerReplacedDuringAnotherRemovalIsKept() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let markers = DedupeMarkers(layout: harness.layout, window: 24 * 3600)
        let path = markers.path(for: "order-42")
        let now = harness.clock.now()
        try Self.writeMarker(markers, claim: "first", at: now.addingTimeInterval(-25 * 3600))

        let lock = open(harness.layout.ids + "/.removal.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(lock >= 0 && flock(lock, LOCK_EX) == 0)
        let removal = Task { try await markers.removeExpired(path, now: now) }
        try await waitUntil("the removal to wait for the lock") {
            try someoneWaitsForLock(on: harness.layout.ids + "/.removal.lock")
        }
        try Self.writeMarker(markers, claim: "second", at: now)
        close(lock)

        #expect(try await removal.value == false)
        #expect(markers.judge(path, claim: "third", now: now) == .live)
    }

    /// Housekeeping removes markers older than the window, each judged again under the removal
    /// lock: one written again while housekeeping waited for the lock is kept.
    @Test func pruningKeepsAMarkerWrittenAgainWhileItWaitedForTheLock() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let markers = DedupeMarkers(layout: harness.layout, window: 24 * 3600)
        let path = markers.path(for: "order-42")
        let now = Date()
        try Self.writeMarker(markers, claim: "first", at: now.addingTimeInterval(-25 * 3600))
        try FileManager.default.setAttributes(
            [.modificationDate: now.addingTimeInterval(-25 * 3600)], ofItemAtPath: path)

        let lock = open(harness.layout.ids + "/.removal.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(lock >= 0 && flock(lock, LOCK_EX) == 0)
        let pruning = Task.detached { try markers.prune(now: now) }
        try await waitUntil("the pruning to wait for the lock") {
            try someoneWaitsForLock(on: harness.layout.ids + "/.removal.lock")
        }
        try Self.writeMarker(markers, claim: "second", at: now)
        close(lock)
        #expect(try await pruning.value == 0)
        #expect(markers.marker(for: "order-42")?.claim == "second")

        try FileManager.default.setAttributes(
            [.modificationDate: now.addingTimeInterval(-25 * 3600)], ofItemAtPath: path)
        #expect(try markers.prune(now: now) == 1)
        #expect(try Disk.listVisible(harness.layout.ids).isEmpty)
    }

    @Test func duplicateIDsInsideOneFileStartOneRun() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let ids = try await harness.send(#"[{"name":"x/happened","id":"k"},{"name":"x/happened","id":"k"}]"#)
        #expect(ids.count == 1)
    }

    @Test func idsThatLookLikePathsStayInsideTheSpool() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let ids = try await harness.send(#"{"name":"x/happened","id":"../../etc/passwd"}"#)
        #expect(ids.count == 1)
        #expect(try Disk.listVisible(harness.layout.ids) == ["%2E.%2F..%2Fetc%2Fpasswd"])
    }

    @Test func aHalfDoneClaimIsFinishedOnRecoveryWithoutDuplicates() async throws {
        let harness = try Harness([Self.noop("a", "x/happened"), Self.noop("b", "x/happened")])
        // A claim that a dead process renamed out of incoming/ but never processed.
        let claim = harness.layout.tmp + "/" + ClaimName.make(original: "e.json", at: harness.clock.now())
        try Data(#"{"name":"x/happened","id":"e"}"#.utf8).write(to: URL(fileURLWithPath: claim))
        // …and a staging directory it left half-built.
        try Disk.makeDirectory(harness.layout.runs + "/.stage-junk")
        let first = try await harness.intake.recoverClaims()
        #expect(first.count == 2)
        #expect(!Disk.exists(claim))
        #expect(try await harness.intake.recoverClaims().isEmpty)
        #expect(try Disk.listVisible(harness.layout.runs).count == 2)
    }

    @Test func recoveryDoesNotRebuildARunThatAlreadyFinished() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let claimName = ClaimName.make(original: "e.json", at: harness.clock.now())
        let claim = harness.layout.tmp + "/" + claimName
        let body = #"{"name":"x/happened"}"#
        try Data(body.utf8).write(to: URL(fileURLWithPath: claim))
        let ids = try await harness.intake.recoverClaims()
        await harness.drain(ids)
        #expect(try harness.spool.runDirectories("done").count == 1)
        // The same claim reappears (a crash after publishing, before the unlink was durable).
        try Data(body.utf8).write(to: URL(fileURLWithPath: claim))
        #expect(try await harness.intake.recoverClaims().isEmpty)
        #expect(try harness.spool.runDirectories("runs").isEmpty)
    }

    @Test func aRunTornByAPowerCutBeforeItsFlushIsRebuiltFromItsClaim() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let claim = harness.layout.tmp + "/" + ClaimName.make(original: "e.json", at: harness.clock.now())
        let body = #"{"name":"x/happened","data":{"n":1}}"#
        try Data(body.utf8).write(to: URL(fileURLWithPath: claim))
        let ids = try await harness.intake.recoverClaims()
        let run = harness.layout.liveRun(try #require(ids.first))
        // The rename into runs/ reached the disk, the files' data did not; the claim is back.
        for file in [RunFiles.event, RunFiles.record] { try Data().write(to: URL(fileURLWithPath: run + "/" + file)) }
        try Data(body.utf8).write(to: URL(fileURLWithPath: claim))

        // While a process holds the run, it is that process's to judge: the claim goes, the run stays.
        var lock = try RunLock.tryAcquire(runDirectory: run)
        #expect(lock != nil)
        #expect(try await harness.intake.recoverClaims().isEmpty)
        #expect(try Disk.read(run + "/" + RunFiles.record).isEmpty)
        #expect(!Disk.exists(claim))
        lock = nil
        try Data(body.utf8).write(to: URL(fileURLWithPath: claim))

        #expect(try await harness.intake.recoverClaims() == ids)
        #expect(try harness.spool.record(run).status == .queued)
        let kept = harness.layout.rejected + "/" + ids[0].rawValue
        #expect(try Disk.read(kept + "/" + RunFiles.record).isEmpty, "what was left of the torn run is kept")
        #expect(Disk.exists(kept + ".reason.json"))
        await harness.drain(ids)
        #expect(try harness.spool.runDirectories("done").count == 1)
        #expect(try harness.spool.runDirectories("failed").isEmpty)
    }

    @Test func theClaimBecomesTheSpareOfItsRunsRecordAndHoldsThePreviousRecordOnceReplaced() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let body = #"{"name":"x/happened","data":{"n":2}}"#
        let id = try #require(try await harness.send(body).first)
        let record = harness.layout.liveRun(id) + "/" + RunFiles.record
        let spare = DurableWriter.spare(of: record)
        #expect(String(decoding: try Disk.read(spare), as: UTF8.self) == body)
        #expect(try Disk.list(harness.layout.tmp).isEmpty)
        let claimInode = try inode(spare)
        let queued = try Disk.read(record)

        await harness.drain([id])
        let done = try #require(try harness.spool.runDirectories("done").first)
        #expect(try inode(done + "/" + RunFiles.record) == claimInode)
        #expect(try Disk.read(DurableWriter.spare(of: done + "/" + RunFiles.record)) == queued)
        #expect(try harness.spool.record(done).status == .completed)
    }

    /// A claim becomes a run's file only when nothing outside the spool can still write to it.
    @Test func aClaimIsKeptOnlyWhenNothingOutsideTheSpoolCanWriteToItAnyMore() async throws {
        let harness = try Harness([Self.noop("a", "x/happened")])
        let body = #"{"name":"x/happened"}"#
        func spare(of id: RunID) -> String {
            DurableWriter.spare(of: harness.layout.liveRun(id) + "/" + RunFiles.record)
        }
        func mode(_ path: String) throws -> mode_t {
            var info = stat()
            guard lstat(path, &info) == 0 else { throw SpoolError.system("lstat", path: path) }
            return info.st_mode & 0o777
        }

        // A read-only file of the spool's user is kept, and made the spool's alone.
        let readOnly = harness.layout.tmp + "/read-only.json"
        try Data(body.utf8).write(to: URL(fileURLWithPath: readOnly))
        chmod(readOnly, 0o444)
        try Disk.rename(readOnly, harness.layout.incoming + "/read-only.json")
        let kept = try #require(try await harness.intake.accept("read-only.json").first)
        #expect(try mode(spare(of: kept)) == 0o600)

        // A file written in place and found by a scan at once may still be written to: not kept.
        try Data(body.utf8).write(to: URL(fileURLWithPath: harness.layout.incoming + "/in-place.json"))
        let scanned = try #require(try await harness.intake.accept("in-place.json", settled: false).first)
        #expect(!Disk.exists(spare(of: scanned)))

        // Someone else's file is not kept (only root can make one here).
        if geteuid() == 0 {
            let foreign = harness.layout.tmp + "/foreign.json"
            try Data(body.utf8).write(to: URL(fileURLWithPath: foreign))
            chown(foreign, 65_534, 65_534)
            try Disk.rename(foreign, harness.layout.incoming + "/foreign.json")
            let notKept = try #require(try await harness.intake.accept("foreign.json").first)
            #expect(!Disk.exists(spare(of: notKept)))
        }
        #expect(try Disk.list(harness.layout.tmp).isEmpty)
    }
}
