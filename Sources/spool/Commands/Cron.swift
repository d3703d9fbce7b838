import ArgumentParser
import Foundation
import SpoolEngine

struct Cron: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron",
        abstract: "Cron schedules.", subcommands: [Next.self])

    struct Next: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "next",
            abstract: "Print the next fire times of a cron expression, one ISO-8601 UTC time a line.")

        @Argument(help: "A 5-field cron expression, optionally prefixed with TZ=Area/City.")
        var expression: String

        @Option(help: "Start after this ISO-8601 time (default: now).")
        var after: String?

        @Option(help: "How many times to print.")
        var count: Int = 5

        func run() async throws {
            let cron: CronExpression
            do {
                cron = try CronExpression(expression)
            } catch let error as SpoolError {
                throw ValidationError(error.message)
            }
            var start = Date()
            if let after {
                guard let parsed = UTCTime.parseISO8601(after) else {
                    throw ValidationError("--after \(after) is not an ISO-8601 time like 2026-11-29T08:00:00Z")
                }
                start = parsed
            }
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
            let times = cron.nextTimes(after: start, count: count)
            guard !times.isEmpty else {
                throw ValidationError("\(expression) never fires: no date matches it (31 February, say)")
            }
            for date in times { print(ISO8601DateFormatter().string(from: date)) }
        }
    }
}
