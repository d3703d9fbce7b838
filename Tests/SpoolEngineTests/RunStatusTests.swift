import Foundation
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
}
