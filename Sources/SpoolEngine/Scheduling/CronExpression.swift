import Foundation

/// A five-field cron schedule with Vixie cron syntax and croniter semantics, read in its own time zone.
///
/// The fields are `minute hour day-of-month month day-of-week`. Each is a comma list of `*`, `a`, `a-b`, `*/n`, `a-b/n`
/// or `a/n` (which means `a-max/n`, as in croniter). Months may be named `JAN`-`DEC` and days `SUN`-`SAT` in any case,
/// also as range ends; day-of-week 7 is Sunday, and a range may end on Sunday (`FRI-SUN`). `@hourly`, `@daily`,
/// `@midnight`, `@weekly`, `@monthly`, `@yearly` and `@annually` stand for their usual fields. A `TZ=Area/City ` or
/// `CRON_TZ=Area/City ` prefix names the zone the fields are read in; UTC otherwise.
///
/// Day rule (croniter's, which is Vixie cron's except for `*/n`): when both day fields are restricted, a day matches
/// if either field does; otherwise both must. A day field counts as unrestricted when it is `*`, or when it covers
/// every value and the other day field contains a `*`. So `0 0 */2 * 1` is "odd days or Mondays".
///
/// Daylight saving time: when the hour field is not every hour, a wall time the clock skips fires once the clock
/// lands after the gap, and a wall time the clock repeats fires only its first time. When the hour field is every
/// hour, skipped wall times do not fire and repeated ones fire both times.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The expression exactly as given.
    public let text: String
    /// The zone the fields are read in: from a `TZ=` or `CRON_TZ=` prefix, UTC by default.
    public let timeZone: TimeZone
    private let schedule: Schedule

    /// Parses `text`; throws `SpoolError(.invalidCron, …)` saying what is wrong and where.
    public init(_ text: String) throws {
        self.text = text
        let fail = { (problem: String) in SpoolError(.invalidCron, "cron \"\(text)\": \(problem)") }
        var tokens = text.split(whereSeparator: \.isWhitespace)
        var zone = TimeZone(secondsFromGMT: 0)!
        if let first = tokens.first, let prefix = ["TZ=", "CRON_TZ="].first(where: { first.hasPrefix($0) }) {
            let name = first.dropFirst(prefix.count)
            guard !name.isEmpty else { throw fail("\(prefix) needs a time zone name, e.g. \(prefix)Europe/Berlin") }
            guard let named = TimeZone(identifier: String(name)) else { throw fail("unknown time zone \"\(name)\"") }
            zone = named
            tokens.removeFirst()
        }
        if let first = tokens.first, first.hasPrefix("@") {
            guard let fields = Self.macros[first.lowercased()] else {
                throw fail("unknown macro \"\(first)\" (known: \(Self.macroNames))")
            }
            guard tokens.count == 1 else { throw fail("macro \"\(first)\" takes no fields after it") }
            tokens = fields.split(separator: " ")
        }
        guard tokens.count == 5 else {
            throw fail("expected 5 fields (minute hour day-of-month month day-of-week), found \(tokens.count)")
        }
        let minutes = try FieldKind.minute.parse(tokens[0], fail: fail)
        let hours = try FieldKind.hour.parse(tokens[1], fail: fail)
        let days = try FieldKind.dayOfMonth.parse(tokens[2], fail: fail)
        let months = try FieldKind.month.parse(tokens[3], fail: fail)
        let weekdays = try FieldKind.dayOfWeek.parse(tokens[4], fail: fail)
        let daysUnrestricted = tokens[2] == "*" || (days == FieldKind.dayOfMonth.all && tokens[4].contains("*"))
        let weekdaysUnrestricted = tokens[4] == "*" || (weekdays == FieldKind.dayOfWeek.all && tokens[2].contains("*"))
        self.timeZone = zone
        self.schedule = Schedule(
            minutes: minutes, hours: hours, days: days, months: months, weekdays: weekdays,
            eitherDay: !daysUnrestricted && !weekdaysUnrestricted, everyHour: hours == FieldKind.hour.all
        )
    }

    public var description: String { text }

    /// The first fire time strictly after `date`, or nil if there is none in the next eight years (it never fires).
    public func next(after date: Date) -> Date? {
        let after = date.timeIntervalSince1970
        guard abs(after) < Self.maximumSeconds else { return nil }
        var cursor = Int(after.rounded(.down))
        var offset = timeZone.secondsFromGMT(for: date)
        var from = (Int(((after + Double(offset)) / 60).rounded(.down)) + 1) * 60
        let lastDay = Schedule.floorDivide(from, Self.secondsPerDay) + Self.horizonDays
        if !schedule.everyHour, let change = transition(atOrBefore: cursor, within: Self.secondsPerDay) {
            // `date` may be in a repeated hour whose first pass already fired its ticks.
            let before = utcOffset(at: change - 1)
            if before > offset { from = max(from, change + before) }
        }
        // Walk forward through stretches of constant UTC offset, starting with the one holding `date`. `wall` is the
        // first matching wall time at or after `from`; it fires in this stretch if the stretch is still running then.
        guard var wall = schedule.firstWall(from: from, throughDay: lastDay) else { return nil }
        while true {
            guard let end = nextTransition(after: cursor), wall >= end + offset else {
                return Date(timeIntervalSince1970: TimeInterval(wall - offset))
            }
            let newOffset = utcOffset(at: end)
            let newFrom: Int
            if newOffset > offset {
                // The clock skips the wall times [end + offset, end + newOffset).
                if !schedule.everyHour && wall < end + newOffset {
                    return Date(timeIntervalSince1970: TimeInterval(end))
                }
                newFrom = max(wall, end + newOffset)
            } else {
                // The clock repeats the wall times [end + newOffset, end + offset).
                newFrom = schedule.everyHour ? end + newOffset : wall
            }
            if newFrom < from || newFrom > wall {
                guard let found = schedule.firstWall(from: newFrom, throughDay: lastDay) else { return nil }
                wall = found
            }
            from = newFrom
            cursor = end
            offset = newOffset
        }
    }

    /// The latest fire time at or before `date`, or nil if there is none in the last eight years.
    ///
    /// Used to fire the most recent missed tick once after downtime.
    public func previous(atOrBefore date: Date) -> Date? {
        let at = date.timeIntervalSince1970
        guard abs(at) < Self.maximumSeconds else { return nil }
        var cursor = Int(at.rounded(.down))
        var offset = timeZone.secondsFromGMT(for: date)
        var through = Int(((at + Double(offset)) / 60).rounded(.down)) * 60
        let firstDay = Schedule.floorDivide(through, Self.secondsPerDay) - Self.horizonDays
        // Walk back through stretches of constant UTC offset, starting with the one holding `date`. `wall` is the last
        // matching wall time at or before `through`; it fires in this stretch if the stretch had begun by then.
        guard var wall = schedule.lastWall(through: through, fromDay: firstDay) else { return nil }
        while true {
            // The offset is constant from `start` to `cursor`; past `lookBehind`, `start` is just a place to pause.
            let start = transition(atOrBefore: cursor, within: Self.lookBehind) ?? cursor - Self.lookBehind
            let before = utcOffset(at: start - 1)
            let repeatsSkipped = !schedule.everyHour && before > offset
            if wall >= start + (repeatsSkipped ? before : offset) {
                return Date(timeIntervalSince1970: TimeInterval(wall - offset))
            }
            if !schedule.everyHour && before < offset && wall >= start + before {
                return Date(timeIntervalSince1970: TimeInterval(start))
            }
            let newThrough = Schedule.floorDivide(start + before - 1, 60) * 60
            if newThrough > through || wall > newThrough {
                guard let found = schedule.lastWall(through: newThrough, fromDay: firstDay) else { return nil }
                wall = found
            }
            through = newThrough
            cursor = start - 1
            offset = before
        }
    }

    /// The next `count` fire times after `date`, fewer if the schedule runs out.
    public func nextTimes(after date: Date, count: Int) -> [Date] {
        var times: [Date] = []
        var last = date
        while times.count < count, let time = next(after: last) {
            times.append(time)
            last = time
        }
        return times
    }

    /// A search window long enough for any satisfiable schedule: 29 February can be eight years apart (2096 to 2104).
    private static let horizonDays = 3_000
    private static let secondsPerDay = 86_400
    /// How far back one step of `previous` looks for a UTC offset change.
    private static let lookBehind = 200 * 86_400
    /// Dates beyond about year 5000 are not searched.
    private static let maximumSeconds: TimeInterval = 1e11

    private func utcOffset(at instant: Int) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// The first instant after `instant` at which the zone's UTC offset changes.
    private func nextTransition(after instant: Int) -> Int? {
        timeZone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: TimeInterval(instant)))
            .map { Int($0.timeIntervalSince1970.rounded(.down)) }
    }

    /// The latest UTC offset change in `(instant - within, instant]`, if any.
    private func transition(atOrBefore instant: Int, within: Int) -> Int? {
        var latest: Int?
        var cursor = instant - within
        while let change = nextTransition(after: cursor), change <= instant {
            latest = change
            cursor = change
        }
        return latest
    }
}

extension CronExpression {
    private static let macros: [String: Substring] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let macroNames = "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"

    /// One of the five fields: its name in messages, its values and names.
    private struct FieldKind {
        let name: String
        let bounds: ClosedRange<Int>
        /// Where `*` and `a/n` end: day-of-week stops at 6, since 7 is Sunday again.
        let wildcardEnd: Int
        let names: [String: Int]

        static let minute = FieldKind(name: "minute", bounds: 0...59, wildcardEnd: 59, names: [:])
        static let hour = FieldKind(name: "hour", bounds: 0...23, wildcardEnd: 23, names: [:])
        static let dayOfMonth = FieldKind(name: "day-of-month", bounds: 1...31, wildcardEnd: 31, names: [:])
        static let month = FieldKind(
            name: "month", bounds: 1...12, wildcardEnd: 12,
            names: [
                "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
                "nov": 11, "dec": 12,
            ]
        )
        static let dayOfWeek = FieldKind(
            name: "day-of-week", bounds: 0...7, wildcardEnd: 6,
            names: ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]
        )

        /// The bit set of every value the field can match.
        var all: UInt64 {
            (UInt64(1) << (wildcardEnd + 1)) - (UInt64(1) << bounds.lowerBound)
        }

        /// The values `token` allows, as a bit set (bit `v` for value `v`; Sunday is bit 0).
        func parse(_ token: Substring, fail: (String) -> SpoolError) throws -> UInt64 {
            var bits: UInt64 = 0
            for item in token.split(separator: ",", omittingEmptySubsequences: false) {
                guard !item.isEmpty else { throw fail("\(name) \"\(token)\" has an empty list item") }
                let parts = item.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count <= 2 else { throw fail("\(name) \"\(item)\" has more than one \"/\"") }
                var step = 1
                if parts.count == 2 {
                    guard parts[1].allSatisfy(Self.isDigit), let value = Int(parts[1]) else {
                        throw fail("\(name) step \"\(parts[1])\" in \"\(item)\" is not a positive number")
                    }
                    guard value > 0 else { throw fail("\(name) step 0 in \"\(item)\" must be at least 1") }
                    step = value
                }
                guard !parts[0].isEmpty else { throw fail("\(name) \"\(item)\" has no value before \"/\"") }
                let covered = try span(parts[0], stepped: parts.count == 2, fail: fail)
                for value in stride(from: covered.lowerBound, through: covered.upperBound, by: step) {
                    bits |= UInt64(1) << value
                }
            }
            if bounds.upperBound == 7 && bits & (1 << 7) != 0 { bits = bits & ~(1 << 7) | 1 }
            return bits
        }

        /// The span one list item covers before its step: `*`, `a`, `a-b`, or `a` to the end when stepped.
        private func span(_ range: Substring, stepped: Bool, fail: (String) -> SpoolError) throws -> ClosedRange<Int> {
            if range == "*" { return bounds.lowerBound...wildcardEnd }
            guard let dash = range.firstIndex(of: "-") else {
                var value = try value(range, fail: fail)
                guard stepped else { return value...value }
                if value > wildcardEnd { value = bounds.lowerBound }  // `7/n` is `0/n` in croniter
                return value...wildcardEnd
            }
            let lowText = range[..<dash]
            let highText = range[range.index(after: dash)...]
            guard !lowText.isEmpty, !highText.isEmpty else { throw fail("\(name) range \"\(range)\" is incomplete") }
            let low = try value(lowText, fail: fail)
            var high = try value(highText, fail: fail)
            if bounds.upperBound == 7 && high == 0 && low > 0 { high = 7 }
            guard low <= high else { throw fail("\(name) range \"\(range)\" is reversed; write it from low to high") }
            return low...high
        }

        private func value(_ text: Substring, fail: (String) -> SpoolError) throws -> Int {
            if text.allSatisfy(Self.isDigit) {
                guard let value = Int(text), bounds.contains(value) else {
                    throw fail("\(name) \(text) is out of range \(bounds.lowerBound)-\(bounds.upperBound)")
                }
                return value
            }
            if let value = names[text.lowercased()] { return value }
            if names.isEmpty { throw fail("\(name) \"\(text)\" is not a number") }
            let first = names.min { $0.value < $1.value }!.key.uppercased()
            let last = names.max { $0.value < $1.value }!.key.uppercased()
            throw fail("\(name) \"\(text)\" is not a number or a \(name) name (\(first)-\(last))")
        }

        private static func isDigit(_ character: Character) -> Bool {
            character.isASCII && character.isNumber
        }
    }

    /// The parsed fields as bit sets, and the day and daylight-saving rules they imply.
    private struct Schedule: Hashable, Sendable {
        let minutes: UInt64
        let hours: UInt64
        let days: UInt64
        let months: UInt64
        let weekdays: UInt64
        /// Both day fields are restricted, so a day matching either one matches.
        let eitherDay: Bool
        let everyHour: Bool

        // Wall times are seconds since 1970-01-01 00:00 on the zone's clock, counted as if it were UTC.

        /// The first matching wall time at or after `from`, if one falls on or before `lastDay`.
        func firstWall(from: Int, throughDay lastDay: Int) -> Int? {
            var day = Self.floorDivide(from, 86_400)
            var minuteOfDay = (from - day * 86_400 + 59) / 60
            while day <= lastDay {
                let date = Self.civilDate(day)
                if months & (1 << date.month) == 0 {
                    day = Self.dayNumber(date.year + date.month / 12, date.month % 12 + 1, 1)
                    minuteOfDay = 0
                    continue
                }
                if matches(dayOfMonth: date.day, weekday: Self.weekday(day)) {
                    var hour = minuteOfDay / 60
                    var minute = minuteOfDay % 60
                    while let matchingHour = Self.firstBit(of: hours, atOrAbove: hour) {
                        if matchingHour > hour { minute = 0 }
                        if let matchingMinute = Self.firstBit(of: minutes, atOrAbove: minute) {
                            return day * 86_400 + matchingHour * 3_600 + matchingMinute * 60
                        }
                        hour = matchingHour + 1
                        minute = 0
                    }
                }
                day += 1
                minuteOfDay = 0
            }
            return nil
        }

        /// The last matching wall time at or before `through`, if one falls on or after `firstDay`.
        func lastWall(through: Int, fromDay firstDay: Int) -> Int? {
            var day = Self.floorDivide(through, 86_400)
            var minuteOfDay = (through - day * 86_400) / 60
            while day >= firstDay {
                let date = Self.civilDate(day)
                if months & (1 << date.month) == 0 {
                    day = Self.dayNumber(date.year, date.month, 1) - 1
                    minuteOfDay = 1_439
                    continue
                }
                if matches(dayOfMonth: date.day, weekday: Self.weekday(day)) {
                    var hour = minuteOfDay / 60
                    var minute = minuteOfDay % 60
                    while let matchingHour = Self.lastBit(of: hours, atOrBelow: hour) {
                        if matchingHour < hour { minute = 59 }
                        if let matchingMinute = Self.lastBit(of: minutes, atOrBelow: minute) {
                            return day * 86_400 + matchingHour * 3_600 + matchingMinute * 60
                        }
                        hour = matchingHour - 1
                        minute = 59
                    }
                }
                day -= 1
                minuteOfDay = 1_439
            }
            return nil
        }

        private func matches(dayOfMonth: Int, weekday: Int) -> Bool {
            let dayMatches = days & (1 << dayOfMonth) != 0
            let weekdayMatches = weekdays & (1 << weekday) != 0
            return eitherDay ? dayMatches || weekdayMatches : dayMatches && weekdayMatches
        }

        static func firstBit(of bits: UInt64, atOrAbove index: Int) -> Int? {
            guard index < 64 else { return nil }
            let rest = bits >> index
            return rest == 0 ? nil : index + rest.trailingZeroBitCount
        }

        static func lastBit(of bits: UInt64, atOrBelow index: Int) -> Int? {
            guard index >= 0 else { return nil }
            let rest = index >= 63 ? bits : bits & ((1 << (index + 1)) - 1)
            return rest == 0 ? nil : 63 - rest.leadingZeroBitCount
        }

        static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
            value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
        }

        /// Sunday is 0; day 0 (1970-01-01) was a Thursday.
        static func weekday(_ day: Int) -> Int {
            ((day + 4) % 7 + 7) % 7
        }

        // Proleptic Gregorian calendar conversions after Howard Hinnant's `civil_from_days` and `days_from_civil`.

        static func civilDate(_ day: Int) -> (year: Int, month: Int, day: Int) {
            let shifted = day + 719_468
            let era = Self.floorDivide(shifted, 146_097)
            let dayOfEra = shifted - era * 146_097
            let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
            let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
            let shiftedMonth = (5 * dayOfYear + 2) / 153
            let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
            return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        }

        static func dayNumber(_ year: Int, _ month: Int, _ day: Int) -> Int {
            let marchYear = month <= 2 ? year - 1 : year
            let era = Self.floorDivide(marchYear, 400)
            let yearOfEra = marchYear - era * 400
            let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
            return era * 146_097 + yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear - 719_468
        }
    }
}
