import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// What run.json says while a run executes.
@Suite struct RunStatusTests {
    @Test func runJSONSaysRunningOnceTheRunHasLastedTheDelayAndItsOutcomeAfter() async throws {
        let started = LockedValue(false)
        let released = LockedValue(false)
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            _ = try await context.step.run("wait") { _ in
                started.withLock { $0 = true }
                try await waitUntil("the test to release the step") { released.withLock { $0 } }
                return 1
            }
        }
        let harness = try Harness([function])
        let id = try #require(try await harness.send(#"{"name":"x/go"}"#).first)
        let directory = harness.layout.liveRun(id)
        let start = harness.clock.now()
        let execution = Task { await harness.executor.execute(id) }
        try await waitUntil("the step to start") { started.withLock { $0 } }
        try await waitUntil("log.jsonl's started line") {
            RunLog.read(directory + "/log.jsonl").map(\.kind) == [.created, .started]
        }
        #expect(try harness.spool.record(directory).status == .queued)

        harness.clock.advance(by: RunExecutor.runningRecordDelay)
        try await waitUntil("run.json to say running") { try harness.spool.record(directory).status == .running }
        #expect(try harness.spool.record(directory).startedAt == UTCTime.iso8601(start))

        released.withLock { $0 = true }
        #expect(await execution.value == .finished)
        let done = try #require(try harness.spool.runDirectories("done").first)
        #expect(try harness.spool.record(done).status == .completed)
    }

    @Test func aRunShorterThanTheDelayGoesFromQueuedToItsOutcomeWithoutAWaitingTimer() async throws {
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            _ = try await context.step.run("quick") { _ in 1 }
        }
        let harness = try Harness([function])
        let id = try #require(try await harness.send(#"{"name":"x/go"}"#).first)
        #expect(await harness.executor.execute(id) == .finished)
        let done = try #require(try harness.spool.runDirectories("done").first)
        let record = try harness.spool.record(done)
        #expect(record.status == .completed && record.startedAt != nil)
        #expect(harness.clock.sleeperCount == 0, "the timer for the running record is cancelled with the run")
    }

    /// A process that dies between writing a run's final run.json and moving the run leaves it in
    /// runs/: the next execution only moves it, to the folder of the day it ended, and runs nothing.
    @Test(arguments: [RunStatus.completed, .failed, .cancelled])
    func aRunThatEndedButWasNotMovedIsOnlyMoved(status: RunStatus) async throws {
        let calls = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            calls.hit()
            _ = try await context.step.run("one") { _ in 1 }
        }
        let harness = try Harness([function])
        let id = try #require(try await harness.send(#"{"name":"x/go"}"#).first)
        let directory = harness.layout.liveRun(id)
        var record = try harness.spool.record(directory)
        record.status = status
        record.finishedAt = "2026-11-27T23:59:59.000Z"
        try Data(try record.encoded()).write(to: URL(fileURLWithPath: directory + "/" + RunFiles.record))

        #expect(await harness.executor.execute(id) == .finished)
        #expect(calls[""] == 0)
        let moved =
            switch status {
            case .completed: harness.layout.doneDay("2026-11-27") + "/" + id.rawValue
            case .cancelled: harness.layout.cancelledDay("2026-11-27") + "/" + id.rawValue
            default: harness.layout.failedRun(id)
            }
        #expect(try harness.spool.record(moved).status == status)
        #expect(!Disk.exists(directory))
        #expect(RunLog.read(moved + "/" + RunFiles.log).map(\.kind).last == RunLogEntry.Kind(rawValue: status.rawValue))
    }
}
