import ArgumentParser
import SpoolEngine

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a run: status, each step with attempts, duration and error, and its timeline.")

    @OptionGroup var options: SpoolOptions

    @Argument(help: "The run id.")
    var run: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let id = try parseRunID(run)
        let detail = try SpoolAdmin(layout: options.existingLayout()).detail(id)
        if json { return try printJSON(detail) }
        let record = detail.record
        print("run       \(record.id)")
        print("function  \(record.function)")
        print("status    \(record.status.rawValue)  (in \(detail.folder)/)")
        print("event     \(record.eventName)  id \(record.eventID)")
        print("created   \(record.createdAt)")
        if let finished = record.finishedAt { print("finished  \(finished)") }
        if let wake = record.wakeAt { print("wakes     \(wake)") }
        if let error = record.lastError {
            print("error     \(error.message)\(error.step.map { "  (step \($0))" } ?? "")")
        }
        if let replayOf = record.replayOf { print("replays   \(replayOf)") }
        print("directory \(detail.directory)")
        for (title, steps) in [("steps", detail.steps), ("on-failure steps", detail.onFailureSteps)]
        where !steps.isEmpty {
            print("\n\(title):")
            var table = Table("STEP", "STATE", "ATTEMPTS", "MS", "ERROR")
            for step in steps {
                table.add(
                    step.id, step.state.rawValue, String(step.attempts),
                    step.durationMs.map { String(format: "%.1f", $0) } ?? "-", step.error ?? "")
            }
            print(table.render())
        }
        print("\ntimeline:")
        for entry in detail.log {
            var line = "\(entry.at)  \(entry.kind.rawValue)"
            if let step = entry.step { line += "  \(step)" }
            if let attempt = entry.attempt { line += "  attempt \(attempt)" }
            if let ms = entry.durationMs { line += String(format: "  %.1f ms", ms) }
            if let wake = entry.wakeAt { line += "  until \(wake)" }
            if let error = entry.error { line += "  error: \(error)" }
            print(line)
        }
    }
}
