import Foundation
import TestServers
import Testing

@testable import SpoolEngine

@Suite struct AdminTests {
    /// `f` on `x/go`: one step that succeeds.
    private static let oneStep = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
        try await context.step.run("a") { _ in }
    }

    /// A harness whose one run has failed (its only step throws, with no retries).
    private static func harnessWithAFailedRun() async throws -> (Harness, RunID) {
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: RetryPolicy(retries: 0)) { context in
            try await context.step.run("a") { _ in throw SpoolError(.io, "down") }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        return (harness, id)
    }

    /// A cancel request as `spool cancel` leaves it in a run's directory.
    private static func requestCancel(in directory: String) throws {
        try Data("{}".utf8).write(to: URL(fileURLWithPath: directory + "/" + RunFiles.cancelRequest))
    }

    @Test func retryResumesAtTheFailedStep() async throws {
        let calls = Counter()
        let broken = LockedValue(true)
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: RetryPolicy(retries: 0)) { context in
            try await context.step.run("first") { _ in calls.hit("first") }
            try await context.step.run("second") { _ in
                calls.hit("second")
                if broken.withLock({ $0 }) { throw SpoolError(.io, "down") }
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        #expect(try harness.admin.runs(status: .failed).map(\.id) == [id.rawValue])

        // A cancel request that came during the last step, too late to stop the run, does not stop its retry.
        try Self.requestCancel(in: harness.layout.failedRun(id))
        broken.withLock { $0 = false }
        try await harness.admin.retry(id)
        #expect(try harness.spool.record(harness.layout.liveRun(id)).status == .queued)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(calls["first"] == 1)
        #expect(calls["second"] == 2)
        let completed = try harness.admin.runs(status: .completed)
        #expect(completed.map(\.id) == [id.rawValue])
        #expect(completed.first?.error == nil, "a completed run shows no error of an attempt before it")
        let steps = try harness.admin.detail(id).steps
        #expect(steps.map(\.attempts) == [1, 2], "the attempts before and after the retry, both counted")
        await #expect(throws: SpoolError.self) { try await harness.admin.retry(id) }
    }

    @Test func aFailedRunWhoseRecordCannotBeReadIsListedAndNotRetriedSilently() async throws {
        let (harness, id) = try await Self.harnessWithAFailedRun()
        try Data("{bad".utf8).write(to: URL(fileURLWithPath: harness.layout.failedRun(id) + "/" + RunFiles.record))
        let listed = try harness.admin.runs(status: .failed)
        #expect(listed.map(\.id) == [id.rawValue])
        #expect(listed.first?.error?.contains("run.json cannot be read") == true, "\(listed)")
        #expect(try harness.admin.runs(status: .completed).isEmpty)
        await #expect(throws: Error.self) { try await harness.admin.retry(id) }
    }

    @Test func aRetryInterruptedBeforeItsMoveLeavesARunThatIsStillListedAndRetriedAsFailed() async throws {
        let (harness, id) = try await Self.harnessWithAFailedRun()
        // What `retry` has done when it is stopped just before it moves the run.
        let record = harness.layout.failedRun(id) + "/" + RunFiles.record
        var requeued = try harness.spool.record(harness.layout.failedRun(id))
        requeued.status = .queued
        try await DurableWriter().replace(try requeued.encoded(), at: record)

        #expect(try harness.admin.runs(status: .failed).map(\.id) == [id.rawValue])
        #expect(try harness.admin.runs(status: .failed).map(\.status) == [.failed], "as its folder says")
        #expect(try harness.admin.runs(status: .queued).isEmpty)
        try await harness.admin.retry(id)
        #expect(try harness.admin.runs(status: .queued).map(\.id) == [id.rawValue])
    }

    /// The failure email of a run that fails again after `spool retry` is a new message, and the
    /// failure handler's `notify` is not the handler's `notify`.
    /// A function whose `work` step always fails; every `notify` step records its idempotency key.
    private static func alwaysFailing(keys: LockedValue<[String]>, notifyFirst: Bool) -> SpoolFunction {
        let notify: @Sendable (StepContext) -> Void = { step in keys.withLock { $0.append(step.idempotencyKey) } }
        return SpoolFunction(
            id: "f", trigger: .event("x/go"), retry: RetryPolicy(retries: 0),
            handler: { context in
                if notifyFirst { try await context.step.run("notify") { notify($0) } }
                try await context.step.run("work") { _ in throw SpoolError(.io, "down") }
            },
            onFailure: { context in try await context.step.run("notify") { notify($0) } })
    }

    @Test func eachFailureHandlerRunHasIdempotencyKeysOfItsOwn() async throws {
        let keys = LockedValue<[String]>([])
        let harness = try Harness([Self.alwaysFailing(keys: keys, notifyFirst: true)])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        try await harness.admin.retry(id)
        #expect(await harness.executor.execute(id) == .finished)
        try await harness.admin.retry(id)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(
            keys.withLock { $0 } == [
                "\(id)/notify", "\(id)/on-failure/notify", "\(id)/on-failure/retry-1/notify",
                "\(id)/on-failure/retry-2/notify",
            ])
    }

    /// A run.json rebuilt after damage counts the retries from the failure steps they set aside.
    @Test func aRebuiltRecordKeepsFailureKeysNew() async throws {
        let keys = LockedValue<[String]>([])
        let harness = try Harness([Self.alwaysFailing(keys: keys, notifyFirst: false)])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        try await harness.admin.retry(id)
        #expect(await harness.executor.execute(id) == .finished)
        try await harness.admin.retry(id)
        try Data("{".utf8).write(to: URL(fileURLWithPath: harness.layout.liveRun(id) + "/" + RunFiles.record))
        #expect(await harness.executor.execute(id) == .finished)
        #expect(try harness.admin.location(of: id)?.folder == "failed")
        try await harness.admin.retry(id)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(
            keys.withLock { $0 } == [
                "\(id)/on-failure/notify", "\(id)/on-failure/retry-1/notify", "\(id)/on-failure/retry-3/notify",
            ])
    }

    @Test func replayStartsANewRunFromTheSameEvent() async throws {
        let calls = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            try await context.step.run("a") { _ in calls.hit() }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go","data":{"n":1}}"#)[0]
        _ = await harness.executor.execute(id)
        let replay = try await harness.admin.replay(id)
        #expect(replay != id)
        #expect(try RunExecutor.readEvent(directory: harness.layout.liveRun(replay)).data["n"] == .number(1))
        #expect(await harness.executor.execute(replay) == .finished)
        #expect(calls[""] == 2)
        #expect(try harness.admin.detail(replay).record.replayOf == id.rawValue)
    }

    @Test func cancelStopsAQueuedRunAtOnceAndARunningOneAtItsNextStep() async throws {
        let harness = try Harness([Self.oneStep])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(try await harness.admin.cancel(id) == .cancelled)
        #expect(try harness.admin.runs(status: .cancelled).map(\.id) == [id.rawValue])
        await #expect(throws: SpoolError.self) { try await harness.admin.cancel(id) }

        let second = try await harness.send(#"{"name":"x/go"}"#)[0]
        var lock = try RunLock.tryAcquire(runDirectory: harness.layout.liveRun(second))
        #expect(lock != nil)
        #expect(try await harness.admin.cancel(second) == .requested)
        lock = nil
        #expect(await harness.executor.execute(second) == .finished)
        #expect(try harness.admin.detail(second).record.status == .cancelled)
        #expect(try harness.admin.detail(second).steps.isEmpty, "no step ran after the request")
    }

    @Test func aCancelledRunAnnouncesItselfOnceToTheFunctionsThatHandleRunCancelled() async throws {
        let announced = LockedValue<[JSONValue]>([])
        let cleanUp = SpoolFunction(id: "clean-up", trigger: .event(RunCancelled.eventName)) { context in
            announced.withLock { $0.append(context.event.data) }
        }
        let harness = try Harness([Self.oneStep, cleanUp])
        let idle = try await harness.send(#"{"name":"x/go","data":{"n":1}}"#)[0]
        #expect(try await harness.admin.cancel(idle) == .cancelled)
        let running = try await harness.send(#"{"name":"x/go","data":{"n":2}}"#)[0]
        try Self.requestCancel(in: harness.layout.liveRun(running))
        #expect(await harness.executor.execute(running) == .finished)

        let incoming = try Disk.listVisible(harness.layout.incoming).sorted()
        #expect(incoming.count == 2, "one event for each cancelled run")
        // The same run cancelled again (a cancel interrupted before its move) is announced again, under the same id.
        try await EventProducer(layout: harness.layout).send([
            RunCancelled.event(
                runID: idle, function: "f", runDirectory: try #require(harness.admin.location(of: idle)).directory)
        ])
        var cleanUps: [RunID] = []
        for name in try Disk.listVisible(harness.layout.incoming).sorted() {
            cleanUps += try await harness.intake.accept(name)
        }
        #expect(cleanUps.count == 2)
        await harness.drain(cleanUps)
        let data = announced.withLock { $0 }
        #expect(Set(data.compactMap { $0["runId"]?.stringValue }) == [idle.rawValue, running.rawValue])
        #expect(data.allSatisfy { $0["functionId"]?.stringValue == "f" })
        #expect(Set(data.compactMap { $0["event"]?["data"]?["n"] }) == [.number(1), .number(2)])
    }

    @Test func aCancelledRunWithAVeryLargeEventAnnouncesOnlyItsNameAndID() async throws {
        let harness = try Harness([Self.oneStep])
        let large = String(repeating: "x", count: RunCancelled.maxEmbeddedEventBytes)
        let id = try await harness.send(#"{"name":"x/go","id":"big-1","data":{"blob":"\#(large)"}}"#)[0]
        #expect(try await harness.admin.cancel(id) == .cancelled)
        let announcement = try #require(try Disk.listVisible(harness.layout.incoming).first)
        let events = try EventParser.parse(Disk.read(harness.layout.incoming + "/" + announcement))
        #expect(events.first?.data["event"] == .object(["name": "x/go", "id": "big-1"]))
    }

    @Test func aRunCancelledEventNoFunctionHandlesIsDroppedNotRejected() async throws {
        let harness = try Harness([Self.oneStep])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(try await harness.admin.cancel(id) == .cancelled)
        let announcement = try #require(try Disk.listVisible(harness.layout.incoming).first)
        #expect(try await harness.intake.accept(announcement).isEmpty)
        #expect(try Disk.listVisible(harness.layout.incoming).isEmpty)
        #expect(try Disk.listVisible(harness.layout.rejected).isEmpty)
    }

    /// The run's executor may finish it between the request's write and the attempt to take its lock.
    @Test func aCancelRequestThatARunOutranIsWithdrawnAndSaysWhereTheRunEnded() async throws {
        let harness = try Harness([Self.oneStep])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        let done = try #require(try harness.admin.location(of: id))
        #expect(done.folder == "done")
        try Self.requestCancel(in: done.directory)

        let error = await #expect(throws: SpoolError.self) {
            try await harness.admin.settleCancelRequest(id, requestedAt: harness.clock.now())
        }
        #expect(error?.message.contains("ended in done/") == true)
        #expect(!Disk.exists(done.directory + "/" + RunFiles.cancelRequest), "the request is withdrawn")

        let second = try await harness.send(#"{"name":"x/go"}"#)[0]
        try Self.requestCancel(in: harness.layout.liveRun(second))
        #expect(await harness.executor.execute(second) == .finished)
        #expect(try await harness.admin.settleCancelRequest(second, requestedAt: harness.clock.now()) == .cancelled)
        #expect(try harness.admin.location(of: second)?.folder == "cancelled")
    }

    /// A run whose process died after recording its end, before moving it out of `runs/`, keeps that end.
    @Test func aCancelOfARunThatEndedButWasNotMovedLeavesItsOutcome() async throws {
        let harness = try Harness([Self.oneStep])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        let directory = harness.layout.liveRun(id)
        var record = try harness.spool.record(directory)
        record.status = .completed
        record.finishedAt = UTCTime.iso8601(harness.clock.now())
        try record.encoded().write(to: URL(fileURLWithPath: directory + "/" + RunFiles.record))

        let error = await #expect(throws: SpoolError.self) { try await harness.admin.cancel(id) }
        #expect(error?.message.contains("has ended (completed)") == true)
        #expect(try harness.spool.record(directory).status == .completed)
        #expect(!Disk.exists(directory + "/" + RunFiles.cancelRequest))
        #expect(await harness.executor.execute(id) == .finished)
        #expect(try harness.admin.location(of: id)?.folder == "done")
    }

    /// `spool retry` may bring a failed run back between the cancel request and the look for where it went.
    @Test func aCancelRequestThatARetryWithdrewSaysSo() async throws {
        let (harness, id) = try await Self.harnessWithAFailedRun()
        try Self.requestCancel(in: harness.layout.failedRun(id))
        try await harness.admin.retry(id)

        let error = await #expect(throws: SpoolError.self) { try await harness.admin.outcomeOfARunThatLeft(id) }
        #expect(error?.message.contains("was retried") == true)
        try Self.requestCancel(in: harness.layout.liveRun(id))
        #expect(try await harness.admin.outcomeOfARunThatLeft(id) == .requested)
    }

    /// A cancel asked for while a step runs that then fails stops the run now, not at its retry time.
    @Test func aCancelDuringAStepThatThenFailsStopsTheRunAtOnce() async throws {
        let started = LockedValue(false)
        let released = LockedValue(false)
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            try await context.step.run("a") { _ in
                started.withLock { $0 = true }
                try await waitUntil("the cancel request") { released.withLock { $0 } }
                throw SpoolError(.io, "a fails")
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        let execution = Task { await harness.executor.execute(id) }
        try await waitUntil("step a to start") { started.withLock { $0 } }
        #expect(try await harness.admin.cancel(id) == .requested)
        released.withLock { $0 = true }
        #expect(await execution.value == .finished)
        #expect(try harness.admin.runs(status: .cancelled).map(\.id) == [id.rawValue])
    }

    @Test func aRunLockIsExclusiveUntilReleased() throws {
        let spool = try TempSpool()
        let directory = spool.layout.runs + "/r"
        try Disk.makeDirectory(directory)
        var first = try RunLock.tryAcquire(runDirectory: directory)
        #expect(first != nil)
        #expect(try RunLock.tryAcquire(runDirectory: directory) == nil)
        first = nil
        #expect(try RunLock.tryAcquire(runDirectory: directory) != nil)
        #expect(try RunLock.tryAcquire(runDirectory: spool.layout.runs + "/missing") == nil)
    }

    @Test func unknownRunsGiveAClearError() async throws {
        let harness = try Harness([])
        let error = try #require(throws: SpoolError.self) { try harness.admin.detail(try RunID(validating: "nope")) }
        #expect(error.message.contains("no run nope"))
        #expect(throws: SpoolError.self) { try RunID(validating: "../etc") }
    }

    @Test func retentionPrunesOldDaysButNeverFailedRuns() throws {
        let spool = try TempSpool()
        for day in ["2026-01-01", "2026-11-29"] { try Disk.makeDirectory(spool.layout.done + "/" + day) }
        try Disk.makeDirectory(spool.layout.failed + "/20260101T000000.000Z-f-00000000")
        let housekeeping = Housekeeping(
            layout: spool.layout, retention: 7 * 86_400, dedupeWindow: 86_400, logger: testLogger)
        #expect(try housekeeping.pruneFinishedRuns(now: Date(timeIntervalSince1970: 1_795_939_200)) == 1)
        #expect(try Disk.listVisible(spool.layout.done) == ["2026-11-29"])
        #expect(try Disk.listVisible(spool.layout.failed).count == 1)
    }

    @Test func staleTempFilesAreRemovedButAClaimStaysWhateverItsOriginalName() throws {
        let spool = try TempSpool()
        let temp = spool.layout.tmp + "/.event.json.tmp-123-1-abc"
        let claim = spool.layout.tmp + "/" + ClaimName.make(original: "orders.tmp-1.json", at: Date())
        let twoMinutesAgo = Date().addingTimeInterval(-120)
        for path in [temp, claim] {
            try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
            try FileManager.default.setAttributes([.modificationDate: twoMinutesAgo], ofItemAtPath: path)
        }
        let housekeeping = Housekeeping(
            layout: spool.layout, retention: 7 * 86_400, dedupeWindow: 86_400, logger: testLogger)
        #expect(try housekeeping.removeStaleTempFiles() == 1)
        #expect(!Disk.exists(temp))
        #expect(Disk.exists(claim))
    }
}
