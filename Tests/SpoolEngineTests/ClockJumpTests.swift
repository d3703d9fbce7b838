import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// The wall clock jumping back and forth: nothing runs early, nothing is lost, no tick fires twice.
@Suite struct ClockJumpTests {
    @Test func aRetryNeitherRunsEarlyWhenTheClockJumpsBackNorHangsWhenItJumpsForward() async throws {
        let clock = ManualClock()
        let attempts = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            try await context.step.run("flaky") { step in
                attempts.hit()
                if step.attempt == 1 { throw SpoolError(.io, "once") }
            }
        }
        let harness = try Harness([function], clock: clock)
        let id = try await harness.send(#"{"name":"x/go"}"#)[0]
        let wake = clock.now().addingTimeInterval(10)
        #expect(await harness.executor.execute(id) == .wake(at: wake))
        clock.advance(by: -3600)
        #expect(await harness.executor.execute(id) == .wake(at: wake), "an hour back: still waiting for the same time")
        #expect(attempts[""] == 1)
        clock.advance(by: 7 * 24 * 3600)
        #expect(await harness.executor.execute(id) == .finished, "a week forward: due at once")
        #expect(attempts[""] == 2)
    }

    @Test func cronFiresOnlyTheLatestMissedTickAfterAJumpForwardAndNothingAfterAJumpBack() async throws {
        let spool = try TempSpool()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_795_939_230))  // 2026-11-29T08:00:30Z
        let ticks = LockedValue<[String]>([])
        let function = SpoolFunction(id: "hourly", trigger: .cron(try CronExpression("0 * * * *"))) { context in
            ticks.withLock { $0.append(context.event.data["scheduledAt"]?.stringValue ?? "?") }
        }
        let server = SpoolServer(layout: spool.layout, functions: [function], clock: clock, logger: testLogger)
        let task = Task { try await server.run() }
        try await waitUntil("the cron state is recorded") { Disk.exists(spool.layout.cron + "/hourly.json") }
        try await waitUntil("the ticker sleeps") { clock.sleeperCount >= 3 }
        clock.advance(by: 5 * 3600)
        try await waitUntil("the latest missed tick ran") { ticks.withLock { $0.count } == 1 }
        #expect(ticks.withLock { $0 } == ["2026-11-29T13:00:00.000Z"])
        clock.advance(by: -4 * 3600)
        clock.advance(by: 4 * 3600 + 3599)
        try await waitUntil("the next tick ran") { ticks.withLock { $0.count } == 2 }
        #expect(ticks.withLock { $0 } == ["2026-11-29T13:00:00.000Z", "2026-11-29T14:00:00.000Z"])
        server.stop()
        try await task.value
    }
}
