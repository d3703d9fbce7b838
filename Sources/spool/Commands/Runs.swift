import ArgumentParser
import SpoolEngine

extension RunStatus: ExpressibleByArgument {}

struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List runs, oldest first.")

    @OptionGroup var options: SpoolOptions

    @Option(help: "Only runs with this status: \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
    var status: RunStatus?

    @Option(help: "Only runs of this function.")
    var function: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let runs = try SpoolAdmin(layout: options.existingLayout()).runs(status: status, function: function)
        if json { return try printJSON(runs) }
        var table = Table("RUN", "FUNCTION", "STATUS", "CREATED", "FINISHED / WAKES", "ERROR")
        for run in runs {
            table.add(
                run.id, run.function, run.status.rawValue, run.createdAt, run.finishedAt ?? run.wakeAt ?? "-",
                run.error.map { $0.count > 60 ? $0.prefix(59) + "…" : $0 } ?? "")
        }
        print(table.render())
    }
}
