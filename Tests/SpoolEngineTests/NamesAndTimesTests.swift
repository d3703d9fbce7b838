import Foundation
import TestServers
import Testing

@testable import SpoolEngine

@Suite struct NamesAndTimesTests {
    @Test(arguments: [
        ("fetch-user", "fetch-user"),
        ("process chunk 1", "process%20chunk%201"),
        ("a/b", "a%2Fb"),
        ("..", "%2E."),
        (".env", "%2Eenv"),
        ("é", "%C3%A9"),
        ("x~1", "x%7E1"),
    ])
    func stepNamesAreEncodedSafely(name: String, encoded: String) {
        #expect(SafeName.encode(name) == encoded)
        #expect(!encoded.contains("/") && !encoded.hasPrefix("."))
    }

    /// A listing reads each name in place, to its end: names of every length up to NAME_MAX, in a
    /// folder large enough to need several reads of entries.
    @Test func listingsReadNamesOfEveryLength() throws {
        let spool = try TempSpool()
        let folder = spool.layout.tmp + "/names"
        try Disk.makeDirectory(folder)
        var expected: Set<String> = []
        for length in 1...255 {
            for variant in ["a", "b", "c", "d"] {
                let name = String(repeating: variant, count: length)
                try Disk.createFile(folder + "/" + name, contents: Data())
                expected.insert(name)
            }
        }
        let listed = try Disk.list(folder)
        #expect(listed.count == expected.count)
        #expect(Set(listed) == expected)
    }

    @Test func longNamesAreShortenedButStayDistinct() {
        let a = SafeName.encode(String(repeating: "a", count: 5000) + "1")
        let b = SafeName.encode(String(repeating: "a", count: 5000) + "2")
        #expect(a != b)
        #expect(a.utf8.count < 200 && b.utf8.count < 200)
    }

    @Test func runIDsSortByCreationAndRoundTrip() throws {
        let early = RunID(date: Date(timeIntervalSince1970: 1_795_939_200.5), function: "send-welcome")
        let late = RunID(date: Date(timeIntervalSince1970: 1_795_939_201), function: "a")
        #expect(early < late)
        #expect(early.rawValue.hasPrefix("20261129T080000.500Z-send-welcome-"))
        #expect(try RunID(validating: early.rawValue) == early)
    }

    @Test func deterministicRunIDsFromTheSameSeed() {
        let date = Date(timeIntervalSince1970: 1_795_939_200)
        #expect(
            RunID(date: date, function: "f", seed: "claim#0#f") == RunID(date: date, function: "f", seed: "claim#0#f"))
        #expect(
            RunID(date: date, function: "f", seed: "claim#0#f") != RunID(date: date, function: "f", seed: "claim#1#f"))
    }

    @Test func compactTimesRoundTrip() throws {
        let date = Date(timeIntervalSince1970: 1_795_939_200.123)
        let text = UTCTime.compact(date)
        #expect(text == "20261129T080000.123Z")
        let parsed = try #require(UTCTime.parseCompact(text))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.001)
        #expect(UTCTime.day(date) == "2026-11-29")
        #expect(UTCTime.parseISO8601(UTCTime.iso8601(date)).map { abs($0.timeIntervalSince(date)) < 0.001 } == true)
        // Single digits are zero-padded; the milliseconds of an instant before 1970 count forward.
        let early = Date(timeIntervalSince1970: 946_688_461.005)  // 2000-01-01 01:01:01.005
        #expect(UTCTime.iso8601(early) == "2000-01-01T01:01:01.005Z")
        #expect(UTCTime.compact(early) == "20000101T010101.005Z")
        #expect(UTCTime.iso8601(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750Z")
        #expect(RunID(date: early, function: "f", seed: "s").rawValue.hasPrefix("20000101T010101.005Z-f-"))
        #expect(RunID(date: early, function: "f", seed: "s").rawValue.utf8.count == 20 + 3 + 8)
    }

    @Test func writtenTimesReadBackAsWritten() throws {
        // Before 2001 a Date's own representation lands some milliseconds a hair below where they were written.
        for millisecond in 0..<1000 {
            for base in [1_795_939_200.0, 946_684_800.0 - 86_400, -86_400.0] {
                let text = UTCTime.iso8601(Date(timeIntervalSince1970: base + Double(millisecond) / 1000))
                let readBack = UTCTime.iso8601(try #require(UTCTime.parseISO8601(text)))
                #expect(readBack == text)
            }
        }
        let eight = Date(timeIntervalSince1970: 1_795_939_200)
        #expect(UTCTime.parseISO8601("2026-11-29T08:00:00Z") == eight)
        // Other RFC 3339 forms are read as before: an offset, a tenth of a second.
        #expect(UTCTime.parseISO8601("2026-11-29T09:00:00.5+01:00") == eight.addingTimeInterval(0.5))
        #expect(UTCTime.parseISO8601("2026-11-29T08:00:00.123") == nil)
        #expect(UTCTime.parseISO8601("2026-11-29 08:00:00.123Z") == nil)
        // Times beyond what four digits of year hold are written as the nearest that fits, not a crash.
        #expect(UTCTime.iso8601(Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59.999Z")
        #expect(UTCTime.iso8601(Date(timeIntervalSince1970: -1e300)) == "0000-01-01T00:00:00.000Z")
        #expect(RetryAfterError("later", after: .seconds(Int64.max)).description.hasSuffix("9999-12-31T23:59:59.999Z)"))
    }

    @Test func theSchedulerHandsOutRunsInDueOrder() async throws {
        let clock = ManualClock()
        let scheduler = Scheduler(clock: clock)
        let now = clock.now()
        let ids = try ["c", "a", "b"].map { try RunID(validating: $0) }
        await scheduler.schedule(ids[0], at: now.addingTimeInterval(-1))
        await scheduler.schedule(ids[1], at: now.addingTimeInterval(-3))
        await scheduler.schedule(ids[2], at: now.addingTimeInterval(5))
        #expect(await scheduler.next() == ids[1])
        #expect(await scheduler.next() == ids[0])
        let waiting = Task { await scheduler.next() }
        try await waitUntil("the timer sleeps") { clock.sleeperCount == 1 }
        clock.advance(by: 5)
        #expect(await waiting.value == ids[2])
        await scheduler.stop()
        #expect(await scheduler.next() == nil)
    }

    /// A new run held for an early start while every worker is busy would keep other processes from it.
    @Test func aNewRunStartsEarlyOnlyWhenAWorkerIsWaitingForIt() async throws {
        let harness = try Harness([])
        let scheduler = Scheduler(clock: harness.clock)
        func admitting(_ name: String) throws -> AdmittingRun {
            let id = try RunID(validating: name)
            let directory = harness.layout.runs + "/" + name
            try Disk.makeDirectory(directory)
            let event = Event(name: "x/go")
            return AdmittingRun(
                record: RunRecord(id: id, function: "f", event: event, eventID: "e", now: harness.clock.now()),
                event: event, lock: try #require(try RunLock.tryAcquire(runDirectory: directory)),
                admission: Admission())
        }

        #expect(await !scheduler.schedule(admitting: try admitting("busy")), "no worker is waiting")
        #expect(await !scheduler.isKnown(try RunID(validating: "busy")))
        #expect(try RunLock.tryAcquire(runDirectory: harness.layout.runs + "/busy") != nil, "its lock is let go")

        let worker = Task { await scheduler.next() }
        let deadline = Date().addingTimeInterval(20)
        while await scheduler.waitingWorkers == 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(await scheduler.schedule(admitting: try admitting("idle")))
        let taken = try #require(await worker.value)
        #expect(taken.rawValue == "idle")
        #expect(await scheduler.takeAdmitting(taken) != nil)
    }

    @Test func eachNewRunWakesAWaitingWorkerAndAnEarlierRunMovesTheTimerUp() async throws {
        let clock = ManualClock()
        let scheduler = Scheduler(clock: clock)
        let now = clock.now()
        let taken = LockedValue<[RunID]>([])
        let workers = (0..<6).map { _ in
            Task {
                let id = await scheduler.next()
                if let id { taken.withLock { $0.append(id) } }
            }
        }
        let later = try RunID(validating: "later")
        await scheduler.schedule(later, at: now.addingTimeInterval(60))
        try await waitUntil("a worker sets the timer for the later run") { clock.sleeperCount == 1 }
        let sooner = try RunID(validating: "sooner")
        await scheduler.schedule(sooner, at: now.addingTimeInterval(10))
        let dueNow = try ["a", "b", "c", "d"].map { try RunID(validating: $0) }
        for id in dueNow { await scheduler.schedule(id, at: now) }
        try await waitUntil("the runs due now are taken") { taken.withLock { $0.count } == 4 }
        clock.advance(by: 10)
        try await waitUntil("the sooner run is taken at its time") { taken.withLock { $0.count } == 5 }
        #expect(taken.withLock { $0.last } == sooner)
        clock.advance(by: 50)
        for worker in workers { await worker.value }
        #expect(Set(taken.withLock { $0 }) == Set(dueNow + [sooner, later]))
    }
}
