import ArgumentParser
import SpoolEngine

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Move a failed run back to runs/; it resumes at the step that failed.")

    @OptionGroup var options: SpoolOptions
    @Argument(help: "The run id.") var run: String

    func run() async throws {
        let id = try parseRunID(run)
        try await SpoolAdmin(layout: options.existingLayout()).retry(id)
        print("\(id) queued again; it resumes at its failed step")
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Start a new run of the same function from the same event; prints the new run id.")

    @OptionGroup var options: SpoolOptions
    @Argument(help: "The run id.") var run: String

    func run() async throws {
        print(try await SpoolAdmin(layout: options.existingLayout()).replay(try parseRunID(run)))
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a live run: at once if idle, else at its next step boundary.")

    @OptionGroup var options: SpoolOptions
    @Argument(help: "The run id.") var run: String

    func run() async throws {
        let id = try parseRunID(run)
        switch try await SpoolAdmin(layout: options.existingLayout()).cancel(id) {
        case .cancelled: print("\(id) cancelled")
        case .requested: print("\(id) is running; it stops at its next step boundary")
        }
    }
}
