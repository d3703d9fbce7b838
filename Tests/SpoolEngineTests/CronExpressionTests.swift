import Foundation
import Testing

@testable import SpoolEngine

struct CronExpressionTests {
    /// One row of Fixtures/cron-reference.json, written by Fixtures/make_cron_reference.py from croniter.
    struct ReferenceRow: Decodable {
        let expr: String
        let after: String
        let next: [String]
        let previous: String?
    }

    /// Our answer where it deliberately differs from croniter's; a nil part is the same as croniter's.
    struct Divergence {
        var next: [String]? = nil
        var previous: String? = nil
    }

    /// Reference rows we answer differently, keyed by "expression @ start".
    ///
    /// Fall back: when the clock repeats an hour, a job whose hour field is not `*` fires on the first pass only, as in
    /// Vixie cron. croniter fires it on both passes, so a daily 01:00 job would run twice that night. Jobs whose hour
    /// field is `*` fire on both passes, as in croniter.
    ///
    /// croniter's get_prev from inside the second pass of a repeated hour skips that pass's earlier ticks
    /// (`*/30 * * * *` at 01:10 EST answers 01:00 EDT although 01:00 EST fired in between); we answer the latest tick.
    static let divergences: [String: Divergence] = [
        "CRON_TZ=Europe/Berlin 30 2 * * * @ 2026-10-24T12:00:00Z": Divergence(next: [
            "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z", "2026-10-28T01:30:00Z",
            "2026-10-29T01:30:00Z",
        ]),
        "CRON_TZ=Europe/Berlin 30 2 * * * @ 2026-10-25T00:45:00Z": Divergence(next: [
            "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z", "2026-10-28T01:30:00Z", "2026-10-29T01:30:00Z",
            "2026-10-30T01:30:00Z",
        ]),
        "TZ=America/New_York */30 * * * * @ 2026-11-01T06:10:00Z": Divergence(previous: "2026-11-01T06:00:00Z"),
        "TZ=America/New_York */30 1-3 * * * @ 2026-11-01T04:10:00Z": Divergence(next: [
            "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:30:00Z",
            "2026-11-01T08:00:00Z",
        ]),
        "TZ=America/New_York */30 1-3 * * * @ 2026-11-01T05:35:00Z": Divergence(next: [
            "2026-11-01T07:00:00Z", "2026-11-01T07:30:00Z", "2026-11-01T08:00:00Z", "2026-11-01T08:30:00Z",
            "2026-11-02T06:00:00Z",
        ]),
        "TZ=America/New_York */30 1-3 * * * @ 2026-11-01T06:10:00Z": Divergence(
            next: [
                "2026-11-01T07:00:00Z", "2026-11-01T07:30:00Z", "2026-11-01T08:00:00Z", "2026-11-01T08:30:00Z",
                "2026-11-02T06:00:00Z",
            ],
            previous: "2026-11-01T05:30:00Z"
        ),
        "TZ=America/New_York 0 1 * * * @ 2026-11-01T04:10:00Z": Divergence(next: [
            "2026-11-01T05:00:00Z", "2026-11-02T06:00:00Z", "2026-11-03T06:00:00Z", "2026-11-04T06:00:00Z",
            "2026-11-05T06:00:00Z",
        ]),
        "TZ=America/New_York 0 1 * * * @ 2026-11-01T05:35:00Z": Divergence(next: [
            "2026-11-02T06:00:00Z", "2026-11-03T06:00:00Z", "2026-11-04T06:00:00Z", "2026-11-05T06:00:00Z",
            "2026-11-06T06:00:00Z",
        ]),
        "TZ=Australia/Sydney 0 2 * * * @ 2026-04-04T12:00:00Z": Divergence(next: [
            "2026-04-04T15:00:00Z", "2026-04-05T16:00:00Z", "2026-04-06T16:00:00Z", "2026-04-07T16:00:00Z",
            "2026-04-08T16:00:00Z",
        ]),
        "TZ=Australia/Sydney 0 2 * * * @ 2026-04-04T15:30:00Z": Divergence(next: [
            "2026-04-05T16:00:00Z", "2026-04-06T16:00:00Z", "2026-04-07T16:00:00Z", "2026-04-08T16:00:00Z",
            "2026-04-09T16:00:00Z",
        ]),
    ]

    static func loadReference() throws -> [ReferenceRow] {
        let url = try #require(
            Bundle.module.url(forResource: "cron-reference", withExtension: "json", subdirectory: "Fixtures")
        )
        return try JSONDecoder().decode([ReferenceRow].self, from: Data(contentsOf: url))
    }

    static func date(_ text: String) throws -> Date {
        try Date(text, strategy: .iso8601)
    }

    static func text(_ date: Date?) -> String? {
        date?.formatted(.iso8601)
    }

    static func next(_ expression: String, after start: String, count: Int = 1) throws -> [String] {
        try CronExpression(expression).nextTimes(after: date(start), count: count).map { text($0)! }
    }

    static func previous(_ expression: String, atOrBefore end: String) throws -> String? {
        try text(CronExpression(expression).previous(atOrBefore: date(end)))
    }

    // MARK: - Reference table

    @Test func matchesCroniterReference() throws {
        let rows = try Self.loadReference()
        #expect(rows.count >= 200)
        #expect(Set(rows.map(\.expr)).count >= 40)
        for row in rows {
            let expression = try CronExpression(row.expr)
            let start = try Self.date(row.after)
            let next = expression.nextTimes(after: start, count: 5).map { Self.text($0)! }
            let previous = Self.text(expression.previous(atOrBefore: start))
            let key = "\(row.expr) @ \(row.after)"
            let divergence = Self.divergences[key]
            #expect(next == divergence?.next ?? row.next, "next of \(key)")
            #expect(previous == divergence?.previous ?? row.previous, "previous of \(key)")
        }
    }

    @Test func everyDivergenceIsAReferenceRowThatDiffers() throws {
        let rows = Dictionary(uniqueKeysWithValues: try Self.loadReference().map { ("\($0.expr) @ \($0.after)", $0) })
        for (key, divergence) in Self.divergences {
            let row = try #require(rows[key], "\(key) is not in the reference table")
            #expect(divergence.next.map { $0 != row.next } ?? true, "\(key): next is the same as croniter's")
            #expect(divergence.previous.map { $0 != row.previous } ?? true, "\(key): previous is croniter's")
        }
    }

    // MARK: - Parse errors

    @Test(arguments: [
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("* 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month 32 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week 8 is out of range 0-7"),
        ("99999999999999999999 * * * *", "minute 99999999999999999999 is out of range 0-59"),
        ("", "expected 5 fields (minute hour day-of-month month day-of-week), found 0"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        ("0 * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        ("TZ=America/New_York", "expected 5 fields (minute hour day-of-month month day-of-week), found 0"),
        ("*/0 * * * *", "minute step 0 in \"*/0\" must be at least 1"),
        ("*/x * * * *", "minute step \"x\" in \"*/x\" is not a positive number"),
        ("1/2/3 * * * *", "minute \"1/2/3\" has more than one \"/\""),
        ("/5 * * * *", "minute \"/5\" has no value before \"/\""),
        ("1,,2 * * * *", "minute \"1,,2\" has an empty list item"),
        ("-5 * * * *", "minute range \"-5\" is incomplete"),
        ("0 0 5-1 * *", "day-of-month range \"5-1\" is reversed; write it from low to high"),
        ("0 0 * * SAT-MON", "day-of-week range \"SAT-MON\" is reversed; write it from low to high"),
        ("abc * * * *", "minute \"abc\" is not a number"),
        ("0 0 L * *", "day-of-month \"L\" is not a number"),
        ("0 0 * JANUARY *", "month \"JANUARY\" is not a number or a month name (JAN-DEC)"),
        ("0 0 * * FOO", "day-of-week \"FOO\" is not a number or a day-of-week name (SUN-SAT)"),
        ("0 0 * * MON#2", "day-of-week \"MON#2\" is not a number or a day-of-week name (SUN-SAT)"),
        ("TZ=Mars/Olympus 0 0 * * *", "unknown time zone \"Mars/Olympus\""),
        ("TZ= 0 0 * * *", "TZ= needs a time zone name, e.g. TZ=Europe/Berlin"),
        (
            "@reboot",
            "unknown macro \"@reboot\" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"
        ),
        ("@daily 5", "macro \"@daily\" takes no fields after it"),
    ])
    func rejects(expression: String, problem: String) {
        let error = #expect(throws: SpoolError.self) { try CronExpression(expression) }
        #expect(error?.code == .invalidCron)
        #expect(error?.message == "cron \"\(expression)\": \(problem)")
    }

    // MARK: - Parsing

    @Test func keepsTextAndZone() throws {
        let plain = try CronExpression("  0 8 * * 1 ")
        #expect(plain.text == "  0 8 * * 1 ")
        #expect(plain.description == "  0 8 * * 1 ")
        #expect(plain.timeZone.secondsFromGMT() == 0)
        #expect(try CronExpression("TZ=America/New_York 0 8 * * 1").timeZone.identifier == "America/New_York")
        #expect(try CronExpression("CRON_TZ=Europe/Berlin @daily").timeZone.identifier == "Europe/Berlin")
        #expect(try CronExpression("0 8 * * 1") == CronExpression("0 8 * * 1"))
        #expect(try CronExpression("0 8 * * 1") != CronExpression("0 8 * * 2"))
    }

    @Test(arguments: [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * SUN", "0 0 * * 0"),
        ("0 0 * * FRI-SUN", "0 0 * * 5,6,0"),
        ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("0 0 * jan,Jul Mon-fri", "0 0 * 1,7 1-5"),
        ("*/20 * * * *", "0,20,40 * * * *"),
        ("5/20 * * * *", "5,25,45 * * * *"),
        ("0 0 * * 1/2", "0 0 * * 1,3,5"),
        ("0 0 * * */3", "0 0 * * 0,3,6"),
        ("0 0 * * 7/4", "0 0 * * 0,4"),
        ("0 0 1 DEC/3 *", "0 0 1 12 *"),
        ("10-20/7 * * * *", "10,17 * * * *"),
        ("*,5 * * * *", "* * * * *"),
        // croniter reads an equal range `a-a` as the whole field; here it is just `a`, as in Vixie cron.
        ("5-5 * * * *", "5 * * * *"),
    ])
    func spellingsAgree(expression: String, equivalent: String) throws {
        let starts = ["2026-06-01T00:00:00Z", "2026-12-31T23:59:30Z"]
        for start in starts {
            #expect(try Self.next(expression, after: start, count: 8) == Self.next(equivalent, after: start, count: 8))
        }
    }

    // MARK: - Edges

    @Test func nextIsStrictlyAfterAFireTime() throws {
        #expect(try Self.next("0 8 * * 1", after: "2026-06-01T08:00:00Z") == ["2026-06-08T08:00:00Z"])
        #expect(try Self.next("*/15 * * * *", after: "2026-06-01T12:15:00Z") == ["2026-06-01T12:30:00Z"])
        #expect(try Self.next("* * * * *", after: "2026-06-01T12:00:00Z") == ["2026-06-01T12:01:00Z"])
    }

    @Test func secondsInTheStartAreHandled() throws {
        #expect(try Self.next("* * * * *", after: "2026-06-01T12:00:30Z") == ["2026-06-01T12:01:00Z"])
        #expect(try Self.next("0 12 * * *", after: "2026-06-01T11:59:59Z") == ["2026-06-01T12:00:00Z"])
        #expect(try Self.next("0 12 * * *", after: "2026-06-01T12:00:30Z") == ["2026-06-02T12:00:00Z"])
        #expect(try Self.previous("0 12 * * *", atOrBefore: "2026-06-01T12:00:00Z") == "2026-06-01T12:00:00Z")
        #expect(try Self.previous("0 12 * * *", atOrBefore: "2026-06-01T12:00:30Z") == "2026-06-01T12:00:00Z")
        #expect(try Self.previous("0 12 * * *", atOrBefore: "2026-06-01T11:59:59Z") == "2026-05-31T12:00:00Z")
        let noon = try Self.date("2026-06-01T12:00:00Z")
        let every = try CronExpression("* * * * *")
        #expect(Self.text(every.next(after: noon.addingTimeInterval(-0.001))) == "2026-06-01T12:00:00Z")
        #expect(Self.text(every.next(after: noon.addingTimeInterval(0.001))) == "2026-06-01T12:01:00Z")
        #expect(Self.text(every.previous(atOrBefore: noon.addingTimeInterval(-0.001))) == "2026-06-01T11:59:00Z")
    }

    @Test func nextTimesCount() throws {
        let expression = try CronExpression("0 0 1,15 * *")
        let start = try Self.date("2026-06-01T00:00:00Z")
        #expect(expression.nextTimes(after: start, count: 0).isEmpty)
        #expect(expression.nextTimes(after: start, count: -1).isEmpty)
        #expect(expression.nextTimes(after: start, count: 24).count == 24)
    }

    @Test func impossibleDatesNeverFire() throws {
        let start = try Self.date("2026-06-01T00:00:00Z")
        for text in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "TZ=America/New_York 0 0 31 FEB *"] {
            let expression = try CronExpression(text)
            #expect(expression.next(after: start) == nil, "\(text)")
            #expect(expression.previous(atOrBefore: start) == nil, "\(text)")
            #expect(expression.nextTimes(after: start, count: 3).isEmpty, "\(text)")
        }
    }

    @Test func leapDaysAcrossTheLongestGap() throws {
        #expect(try Self.next("0 0 29 2 *", after: "2096-02-29T00:00:00Z") == ["2104-02-29T00:00:00Z"])
        #expect(try Self.previous("0 0 29 2 *", atOrBefore: "2104-02-28T23:59:00Z") == "2096-02-29T00:00:00Z")
        // Vixie rule: in February, the 29th or any Monday.
        #expect(
            try Self.next("0 0 29 2 1", after: "2028-02-26T00:00:00Z", count: 3) == [
                "2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z", "2029-02-05T00:00:00Z",
            ]
        )
    }

    // MARK: - Daylight saving time

    @Test func springForward() throws {
        // New York skips 02:00-02:59 on 2026-03-08: a fixed 02:30 job runs when the clock lands at 03:00 EDT ...
        #expect(
            try Self.next("TZ=America/New_York 30 2 * * *", after: "2026-03-07T12:00:00Z", count: 2) == [
                "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z",
            ]
        )
        // ... while an every-hour job has no ticks in the missing hour.
        #expect(
            try Self.next("TZ=America/New_York 30 * * * *", after: "2026-03-08T06:00:00Z", count: 2) == [
                "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z",
            ]
        )
    }

    @Test func fallBack() throws {
        // New York repeats 01:00-01:59 on 2026-11-01: a fixed 01:30 job runs once, at 01:30 EDT ...
        #expect(
            try Self.next("TZ=America/New_York 30 1 * * *", after: "2026-11-01T04:00:00Z", count: 2) == [
                "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z",
            ]
        )
        // ... and an every-hour job ticks on both passes.
        #expect(
            try Self.next("TZ=America/New_York 30 * * * *", after: "2026-11-01T04:00:00Z", count: 3) == [
                "2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z",
            ]
        )
    }

    /// Around offset changes, `previous` and `next` bracket every instant and agree with each other.
    @Test(arguments: [
        ("TZ=America/New_York 30 2 * * *", "2026-03-07T12:00:00Z"),
        ("TZ=America/New_York 0 1 * * *", "2026-10-31T12:00:00Z"),
        ("TZ=America/New_York */30 * * * *", "2026-10-31T23:00:00Z"),
        ("TZ=America/New_York 15,45 1-3 * * *", "2026-03-07T23:00:00Z"),
        ("TZ=America/New_York 15,45 1-3 * * *", "2026-10-31T23:00:00Z"),
        ("TZ=Australia/Sydney 0 2 * * *", "2026-04-04T00:00:00Z"),
        ("TZ=Australia/Sydney 0 2 * * *", "2026-10-03T00:00:00Z"),
        ("TZ=America/Santiago 0 0 * * *", "2026-09-05T00:00:00Z"),
        ("TZ=Pacific/Apia 0 12 * * *", "2011-12-29T00:00:00Z"),
        ("TZ=Asia/Pyongyang */20 * * * *", "2015-08-14T12:00:00Z"),
    ])
    func nextAndPreviousAgree(expression text: String, from start: String) throws {
        let expression = try CronExpression(text)
        let first = try Self.date(start)
        var ticks = expression.nextTimes(after: first, count: 200)
        #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $0 < $1 })
        ticks.insert(try #require(expression.previous(atOrBefore: first)), at: 0)
        for minutes in stride(from: 0, through: 2 * 24 * 60, by: 5) {
            let instant = first.addingTimeInterval(TimeInterval(minutes * 60))
            let next = try #require(expression.next(after: instant))
            let previous = try #require(expression.previous(atOrBefore: instant))
            #expect(previous <= instant && instant < next, "\(text) at \(instant)")
            #expect(expression.next(after: previous) == next, "\(text) at \(instant)")
            #expect(ticks.contains(next) && ticks.contains(previous), "\(text) at \(instant)")
        }
    }
}
