import Foundation
import TestServers
import Testing

@testable import SpoolEngine

@Suite struct StepEachTests {
    @Test func stepsRunAtOnceUpToTheLimitAndReturnInOrder() async throws {
        let running = LockedValue((now: 0, most: 0))
        let results = LockedValue<[Int]>([])
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            let values = try await context.step.runEach((0..<10).map { "s\($0)" }, atOnce: 3) { index, _ in
                running.withLock {
                    $0.now += 1
                    $0.most = max($0.most, $0.now)
                }
                // The first three meet: they run at once.
                if index < 3 { try await waitUntil("three steps at once") { running.withLock { $0.most == 3 } } }
                running.withLock { $0.now -= 1 }
                return index * 10
            }
            results.withLock { $0 = values }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        #expect(results.withLock { $0 } == (0..<10).map { $0 * 10 })
        #expect(running.withLock { $0.most } == 3)
        let done = try harness.spool.runDirectories("done")
        #expect(try Disk.list(done[0] + "/steps").sorted() == (0..<10).map { "s\($0).json" }.sorted())
    }

    @Test func aFailureStartsNoNewStepsKeepsThoseRunningAndTheReplayRunsTheRest() async throws {
        let calls = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            let step = context.step
            _ = try await step.runEach((0..<6).map { "s\($0)" }, atOnce: 3) { index, _ in
                calls.hit("s\(index)")
                if index == 0 && calls["s0"] == 1 {
                    try await waitUntil("s1 and s2 to start") { calls["s1"] == 1 && calls["s2"] == 1 }
                    throw SpoolError(.io, "s0 fails once")
                }
                // Those running beside the failed step finish after it failed, and keep their results:
                // nothing cancels them, so a wait that would end early if cancelled runs its course.
                if index < 3 {
                    try await waitUntil("s0's failure") { calls["s0"] > 1 || step.recordedInterruption != nil }
                    try await Task.sleep(for: .milliseconds(50))
                }
                return index
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: harness.clock.now().addingTimeInterval(10)))
        #expect((0..<6).map { calls["s\($0)"] } == [1, 1, 1, 0, 0, 0])
        let directory = harness.layout.liveRun(id)
        #expect(try Disk.list(directory + "/steps").sorted() == ["s1.json", "s2.json"])
        let record = try harness.spool.record(directory)
        #expect(record.currentStep == "s0" && record.attempt == 1)

        harness.clock.advance(by: 10)
        #expect(await harness.executor.execute(id) == .finished)
        #expect((0..<6).map { calls["s\($0)"] } == [2, 1, 1, 1, 1, 1])
    }

    @Test func whenStepsFailTogetherTheOneBeingRetriedIsRecordedSoItsAttemptsCount() async throws {
        let rounds = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            rounds.hit()
            let round = rounds[""]
            let step = context.step
            _ = try await step.runEach(["a", "b"], atOnce: 2) { index, _ -> Int in
                // Round 1: b fails first. Round 2: a fails first. Each time the other, already
                // running, fails after.
                rounds.hit("round \(round) started")
                try await waitUntil("both steps to start") { rounds["round \(round) started"] == 2 }
                let first = round == 1 ? 1 : 0
                if index != first {
                    try await waitUntil("the other step's failure") { step.recordedInterruption != nil }
                }
                throw SpoolError(.io, "\(index == 0 ? "a" : "b") fails in round \(round)")
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        let directory = harness.layout.liveRun(id)
        _ = await harness.executor.execute(id)
        var record = try harness.spool.record(directory)
        #expect(record.currentStep == "b" && record.attempt == 1)

        harness.clock.advance(by: 10)
        _ = await harness.executor.execute(id)
        record = try harness.spool.record(directory)
        #expect(record.currentStep == "b" && record.attempt == 2, "a failed first, but b is the step being retried")
        #expect(record.lastError?.message.contains("b fails in round 2") == true)
    }

    /// Steps pass their turns in index order, whatever order they reach them in; a step that fails,
    /// or completed in an earlier attempt, holds none back.
    @Test func stepsTakingTurnsPassInIndexOrderAndAFailedOrCompletedStepHoldsNoneBack() async throws {
        let passed = LockedValue<[Int]>([])
        let attempts = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            attempts.hit()
            let firstAttempt = attempts[""] == 1
            let step = context.step
            let turns = StepTurns(count: 5)
            _ = try await step.runEach((0..<5).map { "s\($0)" }, atOnce: 5, turns: turns) { index, _ in
                if firstAttempt && index == 1 {
                    try await waitUntil("s2, s3 and s4 to wait for their turns") {
                        (2..<5).allSatisfy(turns.isWaiting)
                    }
                    throw SpoolError(.io, "s1 fails once")
                }
                if firstAttempt && index == 0 {
                    try await waitUntil("s1's failure") { step.recordedInterruption != nil }
                }
                let turn = turns.turn(index)
                await turn.take()
                passed.withLock { $0.append(index) }
                turn.pass()
                return index
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: harness.clock.now().addingTimeInterval(10)))
        #expect(passed.withLock { $0 } == [0, 2, 3, 4])

        harness.clock.advance(by: 10)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(passed.withLock { $0 } == [0, 2, 3, 4, 1])
    }

    @Test func stepsTakingTurnsNeedOneTurnEach() async throws {
        let thrown = LockedValue<String?>(nil)
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            do {
                _ = try await context.step.runEach(["a", "b"], atOnce: 2, turns: StepTurns(count: 1)) { index, _ in
                    index
                }
            } catch {
                thrown.withLock { $0 = "\(error)" }
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        #expect(thrown.withLock { $0 }?.contains("one turn each: 1 for 2") == true)
    }

    @Test func stepsRunAtOnceNeedDistinctNames() async throws {
        let thrown = LockedValue<String?>(nil)
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            do {
                _ = try await context.step.runEach(["a", "a"], atOnce: 2) { index, _ in index }
            } catch {
                thrown.withLock { $0 = "\(error)" }
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        #expect(thrown.withLock { $0 }?.contains("distinct names") == true)
    }
}
