import Foundation
import Testing

@testable import SpoolEngine

@Suite struct RetryTests {
    @Test func aFailingStepFollowsTheBackoffTableThenFails() async throws {
        let attempts = Counter()
        let failures = LockedValue<[RecordedError]>([])
        let function = SpoolFunction(
            id: "f", trigger: .event("x/go"), retry: fastRetry,
            handler: { context in
                try await context.step.run("ok") { _ in }
                try await context.step.run("always fails") { _ in
                    attempts.hit()
                    throw SpoolError(.io, "disk on fire")
                }
            },
            onFailure: { context in failures.withLock { $0.append(context.error) } })
        let harness = try Harness([function])
        let start = harness.clock.now()
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        let directory = harness.layout.liveRun(id)

        #expect(await harness.executor.execute(id) == .wake(at: start.addingTimeInterval(10)))
        var record = try harness.spool.record(directory)
        #expect(record.status == .retrying)
        #expect(record.attempt == 1)
        #expect(record.currentStep == "always%20fails")
        #expect(record.lastError?.message.contains("disk on fire") == true)

        #expect(await harness.executor.execute(id) == .wake(at: start.addingTimeInterval(10)), "not due yet")
        #expect(attempts[""] == 1)

        harness.clock.advance(by: 10)
        #expect(await harness.executor.execute(id) == .wake(at: start.addingTimeInterval(30)))
        record = try harness.spool.record(directory)
        #expect(record.attempt == 2)

        harness.clock.advance(by: 20)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(attempts[""] == 3, "retries: 2 means 3 attempts")
        let failed = try harness.spool.runDirectories("failed")
        #expect(failed.count == 1)
        #expect(try harness.spool.record(failed[0]).status == .failed)
        #expect(failures.withLock { $0.map(\.step) } == ["always%20fails"])

        let detail = try harness.admin.detail(id)
        #expect(detail.steps.map(\.id) == ["ok", "always%20fails"])
        #expect(detail.steps[1].attempts == 3)
        #expect(detail.steps[1].state == .failed)
    }

    @Test func aPerStepRetryCountOverridesTheFunctions() async throws {
        let attempts = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            try await context.step.run("once", retries: 0) { _ in
                attempts.hit()
                throw SpoolError(.io, "no")
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        #expect(attempts[""] == 1)
        #expect(try harness.spool.runDirectories("failed").count == 1)
    }

    @Test func aNonRetriableErrorFailsAtOnceAndOnFailureStepsAreMemoized() async throws {
        let emails = Counter()
        let fetches = Counter()
        let function = SpoolFunction(
            id: "f", trigger: .event("x/go"), retry: fastRetry,
            handler: { context in
                try await context.step.run("fetch") { _ in
                    fetches.hit()
                    throw NonRetriableError("record missing")
                }
            },
            onFailure: { context in
                try await context.step.run("mark failed") { _ in }
                try await context.step.run("email") { _ in emails.hit() }
                try await context.step.run("flaky cleanup") { step in
                    if step.attempt == 1 { throw SpoolError(.io, "transient") }
                }
            })
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: harness.clock.now().addingTimeInterval(10)))
        #expect(try harness.spool.record(harness.layout.liveRun(id)).status == .failing)
        harness.clock.advance(by: 10)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(fetches[""] == 1, "a non-retriable error is not retried")
        #expect(emails[""] == 1, "the failure handler's completed steps are not re-run")
        let failed = try harness.spool.runDirectories("failed")
        #expect(failed.count == 1)
        let record = try harness.spool.record(failed[0])
        #expect(record.lastError?.nonRetriable == true)
        #expect(record.lastError?.message == "record missing")
        #expect(
            try Disk.listVisible(failed[0] + "/on-failure").sorted() == [
                "email.json", "flaky%20cleanup.json", "mark%20failed.json",
            ])
    }

    @Test func retryAfterErrorSetsTheNextAttemptsTime() async throws {
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            try await context.step.run("rate limited") { step in
                if step.attempt == 1 { throw RetryAfterError("429", at: Date(timeIntervalSince1970: 1_900_000_000)) }
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: Date(timeIntervalSince1970: 1_900_000_000)))
    }

    @Test func anErrorBetweenStepsIsRetriedLikeAStep() async throws {
        let runs = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            try await context.step.run("a") { _ in runs.hit("a") }
            runs.hit("between")
            if runs["between"] == 1 { throw SpoolError(.io, "between steps") }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: harness.clock.now().addingTimeInterval(10)))
        harness.clock.advance(by: 10)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(runs["a"] == 1)
    }

    @Test func aRunThatCannotLeaveRunsSaysSoInItsLogAndFinishesLater() async throws {
        let runs = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            try await context.step.run("a") { _ in runs.hit() }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        // A file where today's folder of done/ belongs: the move out of runs/ fails.
        let day = harness.layout.doneDay(UTCTime.day(harness.clock.now()))
        try Data().write(to: URL(fileURLWithPath: day))
        #expect(await harness.executor.execute(id) == .wake(at: harness.clock.now().addingTimeInterval(5)))
        let log = harness.layout.liveRun(id) + "/" + RunFiles.log
        #expect(RunLog.read(log).map(\.kind).suffix(2) == [.completed, .interrupted])
        #expect(RunLog.read(log).last?.error?.contains("could not be moved out of runs/ as completed") == true)

        try Disk.removeFile(day)
        #expect(await harness.executor.execute(id) == .finished)
        let done = try harness.spool.runDirectories("done")
        #expect(done.count == 1)
        // Its run.json said completed already: it is moved, and nothing runs again.
        #expect(
            RunLog.read(done[0] + "/" + RunFiles.log).map(\.kind).suffix(3) == [.completed, .interrupted, .completed])
        #expect(runs[""] == 1, "the step ran once")
    }

    @Test func defaultPolicyIsInngestsTableWithJitter() {
        let policy = RetryPolicy()
        #expect(policy.retries == 4)
        for (attempt, base) in [(1, 15.0), (2, 30.0), (3, 60.0), (10, 7200.0), (12, 7200.0)] {
            let delay = policy.delay(afterFailedAttempts: attempt)
            #expect(delay >= base && delay <= base + 30)
        }
    }

    @Test func sleepHoldsNoWorkerAndSurvivesInRunJSON() async throws {
        let after = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            try await context.step.sleep("wait a day", for: .seconds(86_400))
            after.hit()
        }
        let harness = try Harness([function])
        let start = harness.clock.now()
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: start.addingTimeInterval(86_400)))
        let record = try harness.spool.record(harness.layout.liveRun(id))
        #expect(record.status == .sleeping)
        #expect(record.wakeDate == start.addingTimeInterval(86_400))
        harness.clock.advance(by: 3600)
        #expect(await harness.executor.execute(id) == .wake(at: start.addingTimeInterval(86_400)))
        harness.clock.advance(by: 86_400)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(after[""] == 1)
    }

    /// A step that fails for good after another step was retried is logged as its own first attempt,
    /// and run.json names it.
    @Test func aFatalFailureNamesItsOwnStepAndAttempt() async throws {
        let calls = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            try await context.step.run("a") { _ in
                calls.hit("a")
                if calls["a"] == 1 { throw SpoolError(.io, "a fails once") }
            }
            try await context.step.run("b") { _ in throw NonRetriableError("b cannot work") }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: harness.clock.now().addingTimeInterval(10)))
        harness.clock.advance(by: 10)
        #expect(await harness.executor.execute(id) == .finished)
        let failed = harness.layout.failedRun(id)
        let failure = try #require(RunLog.read(failed + "/" + RunFiles.log).last { $0.kind == .stepFailed })
        #expect(failure.step == "b" && failure.attempt == 1)
        #expect(try harness.spool.record(failed).currentStep == "b")
    }

    @Test func aSleepInOnFailureWakesAtItsDeadlineAndTheRunThenFails() async throws {
        let after = Counter()
        let function = SpoolFunction(
            id: "f", trigger: .event("x/go"), retry: RetryPolicy(retries: 0),
            handler: { context in try await context.step.run("a") { _ in throw SpoolError(.io, "down") } },
            onFailure: { context in
                try await context.step.sleep("pause", for: .seconds(60))
                try await context.step.run("after") { _ in after.hit() }
            })
        let harness = try Harness([function])
        let deadline = harness.clock.now().addingTimeInterval(60)
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: deadline))
        harness.clock.advance(by: 30)
        #expect(await harness.executor.execute(id) == .wake(at: deadline))
        harness.clock.advance(by: 31)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(after[""] == 1)
        #expect(try harness.spool.runDirectories("failed").count == 1)
    }

    /// A stop (or a crash) between a sleeping run's waking and its sleep step leaves it queued with
    /// the sleep's deadline in run.json: the sleep keeps that deadline rather than starting over.
    @Test func aSleepKeepsItsDeadlineWhenTheRunWasPutBackInTheQueue() async throws {
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            try await context.step.sleep("wait a day", for: .seconds(86_400))
        }
        let harness = try Harness([function])
        let deadline = harness.clock.now().addingTimeInterval(86_400)
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: deadline))
        let path = harness.layout.liveRun(id) + "/" + RunFiles.record
        var record = try RunRecord.read(from: path)
        record.status = .queued
        try Data(try record.encoded()).write(to: URL(fileURLWithPath: path))
        harness.clock.advance(by: 3600)
        #expect(await harness.executor.execute(id) == .wake(at: deadline))
        #expect(try RunRecord.read(from: path).wakeDate == deadline)
    }
}
