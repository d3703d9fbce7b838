import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// A new run's first step starts while the intake makes the run durable; nothing the run
/// produces is written before the run is in `runs/`.
@Suite struct EarlyStartTests {
    @Test func theFirstStepStartsBeforeItsRunIsPublishedAndWritesOnlyAfter() async throws {
        let started = LockedValue(false)
        let sawDirectory = LockedValue<Bool?>(nil)
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            _ = try await context.step.run("first") { _ in
                started.withLock { $0 = true }
                return 1
            }
            let directory = try await context.directory()
            sawDirectory.withLock { $0 = Disk.isDirectory(directory + "/steps") }
            _ = try await context.step.run("second") { _ in 2 }
        }
        let harness = try Harness([function])
        let (executor, layout) = (harness.executor, harness.layout)
        let execution = LockedValue<Task<RunExecutor.Outcome, Never>?>(nil)
        var intake = harness.intake
        intake.startEarly = { run in
            execution.withLock { $0 = Task { await executor.execute(run.id, admitting: run) } }
            try? await waitUntil("the first step to start") { started.withLock { $0 } }
            let staging = RunBuilder(layout: layout).stagingDirectory(for: run.id)
            #expect(!Disk.exists(layout.liveRun(run.id)), "the run is not published yet")
            #expect(sawDirectory.withLock { $0 } == nil, "context.directory() waits for the run to be in runs/")
            #expect((try? Disk.listVisible(staging + "/steps")) == [])
            #expect(RunLog.read(staging + "/log.jsonl").map(\.kind) == [.created])
            #expect((try? RunRecord.read(from: staging + "/run.json"))?.status == .queued)
            return true
        }

        let ids = try await intake.accept(try harness.spool.drop(#"{"name":"x/go"}"#))
        let running = try #require(execution.withLock { $0 })
        #expect(await running.value == .finished)
        #expect(sawDirectory.withLock { $0 } == true)
        let done = try harness.spool.runDirectories("done")
        #expect(done.count == 1 && Disk.name(of: done[0]) == ids.first?.rawValue)
        #expect(try Disk.listVisible(done[0] + "/steps").sorted() == ["first.json", "second.json"])
        #expect(
            RunLog.read(done[0] + "/log.jsonl").map(\.kind) == [
                .created, .started, .stepCompleted, .stepCompleted, .completed,
            ])
    }

    /// A worker starting a run early gets the event as the intake parsed it; a later execution
    /// decodes event.json. The two must be equal.
    @Test func anEventIsTheSameAfterItsRoundTripThroughEventJSON() throws {
        let text = #"""
            {"name": "x/go", "id": "e-1", "ts": 1795939200123, "v": "2",
             "user": {"id": "u", "roles": ["a", "b"]},
             "data": {"int": 42, "negative": -7, "big": 12345678901234567, "fraction": 0.1,
                      "tiny": 1e-300, "huge": 1.7976931348623157e308, "zero": -0.0, "yes": true, "no": false,
                      "nothing": null, "text": "é \" \\ / \n ☃", "list": [1, [2.5, "x"], {"k": null}], "empty": {}}}
            """#
        for event in try EventParser.parse(Data(text.utf8)) {
            let decoded = try JSONDecoder().decode(Event.self, from: SpoolJSON.encoder.encode(event))
            #expect(decoded == event)
        }
    }

    @Test func aRunThatIsNotPublishedDropsItsWorkAndRunsAgainFromItsClaim() async throws {
        let firstSteps = Counter()
        let directoryAnswers = LockedValue<[String]>([])
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            _ = try await context.step.run("first") { _ in
                firstSteps.hit()
                let answer = (try? await context.directory()).map { Disk.isDirectory($0) ? "there" : "missing" }
                directoryAnswers.withLock { $0.append(answer ?? "refused") }
                return 1
            }
        }
        let harness = try Harness([function])
        let (executor, layout) = (harness.executor, harness.layout)
        let execution = LockedValue<(id: RunID, task: Task<RunExecutor.Outcome, Never>)?>(nil)
        var intake = harness.intake
        intake.startEarly = { run in
            execution.withLock { $0 = (run.id, Task { await executor.execute(run.id, admitting: run) }) }
            // A directory already named like the run in runs/ makes its publication fail.
            try? Disk.makeDirectory(layout.liveRun(run.id))
            return true
        }

        await #expect(throws: SpoolError.self) {
            try await intake.accept(try harness.spool.drop(#"{"name":"x/go"}"#))
        }
        let (id, running) = try #require(execution.withLock { $0 })
        #expect(await running.value == .finished)
        #expect(firstSteps[""] == 1)
        #expect(directoryAnswers.withLock { $0 } == ["refused"])
        #expect(try Disk.listVisible(layout.liveRun(id)).isEmpty, "nothing was written in the run's place")
        #expect(try Disk.list(layout.tmp).filter { $0.hasPrefix(ClaimName.prefix) }.count == 1)

        try Disk.removeTree(layout.liveRun(id))
        #expect(try await harness.intake.recoverClaims() == [id])
        #expect(await harness.executor.execute(id) == .finished)
        #expect(firstSteps[""] == 2)
        #expect(directoryAnswers.withLock { $0 } == ["refused", "there"])
        let done = try harness.spool.runDirectories("done")
        #expect(try Disk.listVisible(done[0] + "/steps") == ["first.json"])
    }
}
