import ArgumentParser
import Foundation
import SpoolEngine

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Move a failed run back to runs/; it resumes at the step that failed.",
        discussion: "With --all-failed, every run in failed/ is retried (only one function's with --function).")

    @OptionGroup var options: SpoolOptions
    @Argument(help: "The run id.") var run: String?
    @Flag(help: "Retry every failed run.") var allFailed = false
    @Option(help: "With --all-failed: only the failed runs of this function.") var function: String?

    func validate() throws {
        if function != nil && !allFailed { throw ValidationError("--function goes with --all-failed") }
        if allFailed && run != nil { throw ValidationError("give a run id or --all-failed, not both") }
        if !allFailed && run == nil { throw ValidationError("give a run id, or --all-failed") }
    }

    func run() async throws {
        let admin = SpoolAdmin(layout: try options.changeableLayout())
        if let run {
            let id = try parseRunID(run)
            try await admin.retry(id)
            print("\(id) queued again; it resumes at its failed step")
            return
        }
        let failed = try admin.runs(status: .failed, function: function)
        guard !failed.isEmpty else {
            print("no failed runs" + (function.map { " of \($0)" } ?? ""))
            return
        }
        var refused = 0
        for summary in failed {
            do {
                try await admin.retry(try RunID(validating: summary.id))
                print("\(summary.id) queued again")
            } catch {
                refused += 1
                printToStandardError("\(summary.id) not retried: \(error)")
            }
        }
        print("\(failed.count - refused) of \(failed.count) failed runs queued again; each resumes at its failed step")
        if refused > 0 { throw ExitCode.failure }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Start a new run of the same function from the same event; prints the new run id.")

    @OptionGroup var options: SpoolOptions
    @Argument(help: "The run id.") var run: String

    func run() async throws {
        print(try await SpoolAdmin(layout: options.changeableLayout()).replay(try parseRunID(run)))
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a live run: at once if idle, else at its next step boundary.")

    @OptionGroup var options: SpoolOptions
    @Argument(help: "The run id.") var run: String
    @Flag(help: "Return once the request is written, without waiting for a running run to stop.") var noWait = false

    func run() async throws {
        let id = try parseRunID(run)
        let admin = SpoolAdmin(layout: try options.changeableLayout())
        guard try await admin.cancel(id) == .requested else {
            print("\(id) cancelled")
            return
        }
        if noWait {
            print("\(id) is running; it stops at its next step boundary")
            return
        }
        printToStandardError("\(id) is running; waiting for it to stop at its next step boundary")
        _ = try await RunWatcher(admin: admin).waitUntilFinished(id) { _ in nil }
        // Throws, saying where it ended, when the run finished before reaching a step boundary.
        _ = try await admin.outcomeOfARunThatLeft(id)
        print("\(id) cancelled")
    }
}
