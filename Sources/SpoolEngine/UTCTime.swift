import Foundation

/// UTC time formats used in ids, folder names and files.
public enum UTCTime {
    /// `20261129T080000.123Z`
    public static func compact(_ date: Date) -> String {
        let parts = components(date)
        return format([
            .digits(parts.year, 4), .digits(parts.month, 2), .digits(parts.day, 2), .text("T"), .digits(parts.hour, 2),
            .digits(parts.minute, 2), .digits(parts.second, 2), .text("."), .digits(parts.millisecond, 3), .text("Z"),
        ])
    }

    /// `2026-11-29`
    public static func day(_ date: Date) -> String {
        let parts = components(date)
        return format([.digits(parts.year, 4), .text("-"), .digits(parts.month, 2), .text("-"), .digits(parts.day, 2)])
    }

    /// `2026-11-29T08:00:00.123Z`
    public static func iso8601(_ date: Date) -> String {
        let parts = components(date)
        return format([
            .digits(parts.year, 4), .text("-"), .digits(parts.month, 2), .text("-"), .digits(parts.day, 2), .text("T"),
            .digits(parts.hour, 2), .text(":"), .digits(parts.minute, 2), .text(":"), .digits(parts.second, 2),
            .text("."), .digits(parts.millisecond, 3), .text("Z"),
        ])
    }

    private enum Piece {
        case digits(Int32, Int)
        case text(Unicode.Scalar)
    }

    /// The pieces written out; `String(format:)` cost a log line more than the rest of its encoding.
    private static func format(_ pieces: [Piece]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        for piece in pieces {
            switch piece {
            case .text(let scalar):
                bytes.append(UInt8(scalar.value))
            case .digits(let value, let width):
                var value = max(value, 0)
                let start = bytes.count
                bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width))
                var position = bytes.count
                while value > 0 && position > start {
                    position -= 1
                    bytes[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses an RFC 3339 time. The form `iso8601` writes (with or without the milliseconds) is read
    /// directly; any other (an offset, more digits) goes to Foundation's parser, which takes about
    /// 0.2 ms a call here, so a step result holding many times would take long to decode.
    public static func parseISO8601(_ text: String) -> Date? {
        if let date = parseWritten(text) { return date }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }

    /// `2026-11-29T08:00:00.123Z` or `2026-11-29T08:00:00Z`; nil for any other text and for a day
    /// or time that does not exist.
    private static func parseWritten(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 24 || bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes.last == UInt8(ascii: "Z"), bytes.count == 20 || bytes[19] == UInt8(ascii: ".")
        else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int32(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            let millisecond = bytes.count == 24 ? number(20..<23) : 0
        else { return nil }
        let parts = Parts(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: millisecond)
        let date = date(of: parts)
        return components(date) == parts ? date : nil
    }

    /// Parses `20261129T080000.123Z`.
    public static func parseCompact(_ text: String) -> Date? {
        let digits = Array(text.utf8)
        guard digits.count == 20, digits[8] == UInt8(ascii: "T"), digits[15] == UInt8(ascii: "."),
            digits[19] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int32? { Int32(String(decoding: digits[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            let millis = number(16..<19)
        else { return nil }
        return date(
            of: Parts(
                year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: millis))
    }

    /// The instant `parts` names in UTC; a day or time out of range rolls over, as `timegm` does.
    private static func date(of parts: Parts) -> Date {
        var broken = tm()
        broken.tm_year = parts.year - 1900
        broken.tm_mon = parts.month - 1
        broken.tm_mday = parts.day
        broken.tm_hour = parts.hour
        broken.tm_min = parts.minute
        broken.tm_sec = parts.second
        return Date(timeIntervalSince1970: Double(timegm(&broken)) + Double(parts.millisecond) / 1000)
    }

    private struct Parts: Equatable {
        var year, month, day, hour, minute, second, millisecond: Int32
    }

    private static func components(_ date: Date) -> Parts {
        // A time outside the years 0 to 9999 is written as the nearest one inside: four digits hold the year.
        let unclamped = date.timeIntervalSince1970 * 1000
        let scaled = unclamped.isNaN ? 0 : min(max(unclamped, -62_167_219_200_000), 253_402_300_799_999)
        // A time made from a written one lies within a rounding error of its millisecond, either side.
        let nearest = scaled.rounded()
        let millis = Int64(abs(scaled - nearest) < 0.001 ? nearest : scaled.rounded(.down))
        var seconds = time_t(millis >= 0 ? millis / 1000 : (millis - 999) / 1000)
        var broken = tm()
        gmtime_r(&seconds, &broken)
        return Parts(
            year: broken.tm_year + 1900, month: broken.tm_mon + 1, day: broken.tm_mday, hour: broken.tm_hour,
            minute: broken.tm_min, second: broken.tm_sec, millisecond: Int32(((millis % 1000) + 1000) % 1000))
    }
}
