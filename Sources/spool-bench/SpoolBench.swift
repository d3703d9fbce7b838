import ArgumentParser

@main
struct SpoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool-bench",
        abstract: "The benchmark's side of Spool: a server with a tiny job, and a history generator (see bench/).",
        subcommands: [BenchServe.self, BenchHistory.self])
}
