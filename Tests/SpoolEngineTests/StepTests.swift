import Foundation
import Testing

@testable import SpoolEngine

@Suite struct StepTests {
    struct Greeting: Codable, Sendable, Equatable {
        var text: String
        var count: Int
    }

    @Test func completedStepsAreSkippedOnReplay() async throws {
        let calls = Counter()
        let seen = LockedValue<[Greeting]>([])
        let failOnce = LockedValue(true)
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            let greeting = try await context.step.run("make greeting") { _ in
                calls.hit("make")
                return Greeting(text: "hi", count: 1)
            }
            seen.withLock { $0.append(greeting) }
            try await context.step.run("flaky") { _ in
                calls.hit("flaky")
                if failOnce.withLock({ flag in
                    defer { flag = false }
                    return flag
                }) {
                    throw SpoolError(.io, "boom")
                }
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .wake(at: harness.clock.now().addingTimeInterval(10)))
        harness.clock.advance(by: 10)
        #expect(await harness.executor.execute(id) == .finished)
        #expect(calls["make"] == 1)
        #expect(calls["flaky"] == 2)
        #expect(seen.withLock { $0 } == [Greeting(text: "hi", count: 1), Greeting(text: "hi", count: 1)])
        let done = try harness.spool.runDirectories("done")
        #expect(done.count == 1)
        let stored = String(decoding: try Disk.read(done[0] + "/steps/make%20greeting.json"), as: UTF8.self)
        #expect(stored.contains(#""text" : "hi""#))
        #expect(try harness.spool.record(done[0]).status == .completed)
    }

    @Test func repeatedNamesGetNumberedFiles() async throws {
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            for index in 0..<3 { _ = try await context.step.run("send") { _ in index } }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        let steps = try Disk.listVisible(try harness.spool.runDirectories("done")[0] + "/steps").sorted()
        #expect(steps == ["send.json", "send~1.json", "send~2.json"])
    }

    @Test func theFirstRunSeesTheSameValueAsAReplay() async throws {
        let values = LockedValue<[Double]>([])
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            // A Double that does not survive JSON exactly would differ between first run and replay.
            let value = try await context.step.run("value") { _ in 0.1 + 0.2 }
            values.withLock { $0.append(value) }
            if values.withLock({ $0.count }) == 1 { throw SpoolError(.io, "once") }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        _ = await harness.executor.execute(id)
        harness.clock.advance(by: 10)
        _ = await harness.executor.execute(id)
        let seen = values.withLock { $0 }
        #expect(seen.count == 2 && seen[0] == seen[1])
    }

    @Test func aTornStepFileIsMovedAsideAndTheStepRunsAgain() async throws {
        let calls = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            _ = try await context.step.run("a") { _ in
                calls.hit()
                return 1
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        let steps = harness.layout.liveRun(id) + "/steps"
        try Data(#"{"data": 1"#.utf8).write(to: URL(fileURLWithPath: steps + "/a.json"))
        #expect(await harness.executor.execute(id) == .finished)
        #expect(calls[""] == 1)
        let done = try harness.spool.runDirectories("done")[0]
        let names = try Disk.listVisible(done + "/steps")
        #expect(names.contains("a.json"))
        #expect(names.contains { $0.hasPrefix("a.json.unreadable-") })
        #expect(
            RunLog.read(done + "/log.jsonl").map(\.kind) == [
                .created, .started, .recovered, .stepCompleted, .completed,
            ])
    }

    @Test func stepNamesCannotEscapeTheStepsFolder() async throws {
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            try await context.step.run("../../escape") { _ in }
            try await context.step.run(".hidden") { _ in }
            try await context.step.run("nul\u{0}byte") { _ in }
            try await context.step.run(String(repeating: "x", count: 10_000)) { _ in }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        #expect(await harness.executor.execute(id) == .finished)
        let directory = try harness.spool.runDirectories("done")[0]
        let names = try Disk.list(directory + "/steps").sorted()
        #expect(names.count == 4)
        #expect(names.allSatisfy { !$0.hasPrefix(".") && !$0.contains("/") && $0.utf8.count < 255 })
        #expect(try Disk.listVisible(directory).sorted() == ["event.json", "log.jsonl", "run.json", "steps"])
    }

    @Test func idempotencyKeysAreStableAcrossAttempts() async throws {
        let keys = LockedValue<[String]>([])
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            try await context.step.run("send") { step in
                keys.withLock { $0.append(step.idempotencyKey + "#\(step.attempt)") }
                if step.attempt == 1 { throw SpoolError(.io, "transient") }
            }
        }
        let harness = try Harness([function])
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        _ = await harness.executor.execute(id)
        harness.clock.advance(by: 10)
        _ = await harness.executor.execute(id)
        #expect(keys.withLock { $0 } == ["\(id)/send#1", "\(id)/send#2"])
    }
}
