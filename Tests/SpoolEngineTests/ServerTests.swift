import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// The whole server: inotify intake, workers, scheduler, cron, graceful stop.
@Suite struct ServerTests {
    static func start(_ server: SpoolServer) -> Task<Void, Error> {
        Task { try await server.run() }
    }

    @Test func anEventDroppedIntoIncomingRunsToDone() async throws {
        let spool = try TempSpool()
        let function = SpoolFunction(id: "hello", trigger: .event("x/go")) { context in
            _ = try await context.step.run("say") { _ in "hello" }
        }
        let server = SpoolServer(layout: spool.layout, functions: [function], logger: testLogger)
        let task = Self.start(server)
        try spool.drop(#"{"name":"x/go","data":{}}"#)
        try await waitUntil("the run is done") { try spool.runDirectories("done").count == 1 }
        server.stop()
        try await task.value
        let done = try spool.runDirectories("done")[0]
        #expect(Disk.exists(done + "/steps/say.json"))
        #expect(try Disk.list(spool.layout.incoming).isEmpty)
    }

    @Test func aFileWrittenBeforeStartIsPickedUpByTheStartupScan() async throws {
        let spool = try TempSpool()
        try spool.drop(#"{"name":"x/go"}"#)
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { _ in }
        let server = SpoolServer(layout: spool.layout, functions: [function], logger: testLogger)
        let task = Self.start(server)
        try await waitUntil("the run is done") { try spool.runDirectories("done").count == 1 }
        server.stop()
        try await task.value
    }

    @Test func badFilesAreRejectedWhileGoodOnesKeepFlowing() async throws {
        let spool = try TempSpool()
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { _ in }
        let server = SpoolServer(layout: spool.layout, functions: [function], logger: testLogger)
        let task = Self.start(server)
        for index in 0..<20 {
            try spool.drop(index % 2 == 0 ? #"{"name":"x/go"}"# : "{broken \(index)", name: "e\(index).json")
        }
        try await waitUntil("10 runs done and 10 files rejected") {
            try spool.runDirectories("done").count == 10
                && Disk.listVisible(spool.layout.rejected).filter { $0.hasSuffix(".reason.json") }.count == 10
        }
        server.stop()
        try await task.value
    }

    @Test func gracefulStopFinishesTheRunningStepAndStartsNoOther() async throws {
        let spool = try TempSpool()
        let entered = LockedValue(false)
        let release = LockedValue(false)
        let secondStarted = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go")) { context in
            try await context.step.run("slow") { _ in
                entered.withLock { $0 = true }
                while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            }
            try await context.step.run("next") { _ in secondStarted.hit() }
        }
        let server = SpoolServer(layout: spool.layout, functions: [function], logger: testLogger)
        let task = Self.start(server)
        try spool.drop(#"{"name":"x/go"}"#)
        try await waitUntil("the slow step runs") { entered.withLock { $0 } }
        server.stop()
        release.withLock { $0 = true }
        try await task.value
        let live = try spool.runDirectories("runs")
        #expect(live.count == 1)
        #expect(Disk.exists(live[0] + "/steps/slow.json"), "the running step finished and was recorded")
        #expect(secondStarted[""] == 0)
        #expect(try spool.record(live[0]).status == .queued)

        let restarted = SpoolServer(layout: spool.layout, functions: [function], logger: testLogger)
        let second = Self.start(restarted)
        try await waitUntil("the run completes after restart") { try spool.runDirectories("done").count == 1 }
        restarted.stop()
        try await second.value
        #expect(secondStarted[""] == 1)
    }

    @Test func aRetryWaitsForItsTimeOnTheClock() async throws {
        let spool = try TempSpool()
        let clock = ManualClock()
        let attempts = Counter()
        let function = SpoolFunction(id: "f", trigger: .event("x/go"), retry: fastRetry) { context in
            try await context.step.run("flaky") { step in
                attempts.hit()
                if step.attempt < 3 { throw SpoolError(.io, "try again") }
            }
        }
        let server = SpoolServer(layout: spool.layout, functions: [function], clock: clock, logger: testLogger)
        let task = Self.start(server)
        try spool.drop(#"{"name":"x/go"}"#)
        func status() throws -> RunStatus? { try spool.runDirectories().first.map { try spool.record($0).status } }
        try await waitUntil("the first attempt fails") { try attempts[""] == 1 && status() == .retrying }
        clock.advance(by: 9)
        #expect(attempts[""] == 1)
        clock.advance(by: 1)
        try await waitUntil("the second attempt") { try attempts[""] == 2 && status() == .retrying }
        clock.advance(by: 20)
        try await waitUntil("the run is done") { try spool.runDirectories("done").count == 1 }
        #expect(attempts[""] == 3)
        server.stop()
        try await task.value
    }

    @Test func cronFiresEachTickOnceAndTheLatestMissedTickAfterDowntime() async throws {
        let spool = try TempSpool()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_795_939_230))  // 2026-11-29T08:00:30Z
        let ticks = LockedValue<[String]>([])
        let function = SpoolFunction(id: "minutely", trigger: .cron(try CronExpression("* * * * *"))) { context in
            ticks.withLock { $0.append(context.event.data["scheduledAt"]?.stringValue ?? "?") }
        }
        let server = SpoolServer(layout: spool.layout, functions: [function], clock: clock, logger: testLogger)
        let task = Self.start(server)
        try await waitUntil("the cron state is recorded") { Disk.exists(spool.layout.cron + "/minutely.json") }
        try await waitUntil("the ticker sleeps") { clock.sleeperCount >= 3 }
        clock.advance(by: 30)
        try await waitUntil("one tick ran") { ticks.withLock { $0.count } == 1 }
        #expect(ticks.withLock { $0 } == ["2026-11-29T08:01:00.000Z"])
        server.stop()
        try await task.value

        // Down for ten minutes: only the most recent missed tick fires.
        clock.advance(by: 600)
        let restarted = SpoolServer(layout: spool.layout, functions: [function], clock: clock, logger: testLogger)
        let second = Self.start(restarted)
        try await waitUntil("the missed tick ran") { ticks.withLock { $0.count } == 2 }
        #expect(ticks.withLock { $0.last } == "2026-11-29T08:11:00.000Z")
        restarted.stop()
        try await second.value
        #expect(try spool.runDirectories("done").count == 2)
    }

    @Test func aTickLeftPendingWhoseRunIsLiveIsNotFiredAgainAfterLongDowntime() async throws {
        let spool = try TempSpool()
        let tick = Date(timeIntervalSince1970: 1_795_939_200)  // Sunday 2026-11-29T08:00:00Z
        let clock = ManualClock(tick.addingTimeInterval(1))
        let attempts = LockedValue(0)
        let function = SpoolFunction(id: "weekly", trigger: .cron(try CronExpression("0 8 * * 0"))) { context in
            _ = try await context.step.run("work") { _ in
                let attempt = attempts.withLock { count in
                    count += 1
                    return count
                }
                if attempt == 1 { throw RetryAfterError("later", at: tick.addingTimeInterval(24 * 3600)) }
                return "done"
            }
        }
        // The ticker sent the tick's event, and its run started, then the process stopped before
        // the tick was recorded as fired.
        let server = SpoolServer(layout: spool.layout, functions: [function], clock: clock, logger: testLogger)
        let task = Self.start(server)
        try await EventProducer(layout: spool.layout).send([CronTick.event(function: "weekly", scheduledAt: tick)])
        try await waitUntil("the run waits to retry") {
            try spool.runDirectories().first.map { try spool.record($0).status } == .retrying
        }
        server.stop()
        try await task.value
        let eventID = CronTick.eventID(function: "weekly", scheduledAt: tick)
        let state = CronTicker.State(
            function: "weekly", expression: "0 8 * * 0", lastTick: UTCTime.iso8601(tick.addingTimeInterval(-7 * 86400)),
            pendingTick: UTCTime.iso8601(tick))
        try Data(SpoolJSON.encoder.encode(state)).write(to: URL(fileURLWithPath: spool.layout.cron + "/weekly.json"))

        // Down for 25 hours: the event id's dedupe marker has expired.
        try Disk.removeFile(DedupeMarkers(layout: spool.layout, window: 86400).path(for: eventID))
        clock.advance(by: 25 * 3600)
        let restarted = SpoolServer(layout: spool.layout, functions: [function], clock: clock, logger: testLogger)
        let second = Self.start(restarted)
        try await waitUntil("the tick is recorded and its run is done") {
            let data = try? Disk.read(spool.layout.cron + "/weekly.json")
            let recorded = try data.map { try JSONDecoder().decode(CronTicker.State.self, from: $0) }
            return try recorded?.lastTick == UTCTime.iso8601(tick) && recorded?.pendingTick == nil
                && !spool.runDirectories("done").isEmpty
        }
        restarted.stop()
        try await second.value
        #expect(try spool.runDirectories("done").count + spool.runDirectories().count == 1)
        #expect(try Disk.listVisible(spool.layout.incoming).isEmpty)
        #expect(attempts.withLock { $0 } == 2)
    }
    /// Two processes due to fire the same tick: the one that waited for the other's lock finds the
    /// tick recorded and neither sends it again nor writes over the record.
    @Test func aTickAnotherProcessFiredWhileThisOneWaitedIsNotFiredAgain() async throws {
        let spool = try TempSpool()
        let tick = Date(timeIntervalSince1970: 1_795_939_200)  // Sunday 2026-11-29T08:00:00Z
        let expression = try CronExpression("0 8 * * 0")
        let function = SpoolFunction(id: "weekly", trigger: .cron(expression)) { _ in }
        let ticker = CronTicker(
            layout: spool.layout, registry: FunctionRegistry([function]), producer: EventProducer(layout: spool.layout),
            writer: DurableWriter(), clock: ManualClock(tick.addingTimeInterval(1)), logger: testLogger)
        func record(lastTick: Date) throws {
            let state = CronTicker.State(
                function: "weekly", expression: expression.text, lastTick: UTCTime.iso8601(lastTick),
                firedAt: UTCTime.iso8601(lastTick))
            try SpoolJSON.encoder.encode(state).write(to: URL(fileURLWithPath: spool.layout.cron + "/weekly.json"))
        }
        try record(lastTick: tick.addingTimeInterval(-7 * 86400))

        // The other process holds the lock while it fires.
        let otherProcess = open(ticker.lockPath("weekly"), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(otherProcess >= 0)
        #expect(flock(otherProcess, LOCK_EX) == 0)
        let firing = Task { try await ticker.fire("weekly", expression, at: tick) }
        try await waitUntil("this ticker to wait for the lock") {
            try someoneWaitsForLock(on: ticker.lockPath("weekly"))
        }
        try record(lastTick: tick)
        close(otherProcess)

        #expect(try await firing.value == false)
        #expect(try Disk.listVisible(spool.layout.incoming).isEmpty)
        let recorded = try JSONDecoder().decode(
            CronTicker.State.self, from: Disk.read(spool.layout.cron + "/weekly.json"))
        #expect(recorded.lastTick == UTCTime.iso8601(tick) && recorded.pendingTick == nil)

        // With the lock free and the tick not yet recorded, it fires.
        try record(lastTick: tick.addingTimeInterval(-7 * 86400))
        #expect(try await ticker.fire("weekly", expression, at: tick))
        #expect(try Disk.listVisible(spool.layout.incoming).count == 1)
    }
}
