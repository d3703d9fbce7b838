import ArgumentParser
import Foundation
import Logging
import SpoolEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Serves a spool with the benchmark's function until SIGTERM or SIGINT.
struct BenchServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the spool with bench-tiny (event bench/tiny, data {\"event\": N}): three steps, timing marks.")

    @Option(help: "The spool directory.")
    var spool: String

    @Option(help: "Where step 1's start (S1 N ns) and step 3's end (D N ns) are appended, CLOCK_MONOTONIC.")
    var marks: String

    @Option(help: "Runs executed at once.")
    var concurrency: Int = 4

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let layout = SpoolLayout(root: spool)
        var configuration = SpoolServer.Configuration()
        configuration.concurrency = concurrency
        let marks = try TimingMarks(path: marks)
        let server = SpoolServer(
            layout: layout, functions: [TinyJob.function(marks: marks)], configuration: configuration,
            logger: Logger(label: "spool-bench"))
        let stopper = StopOnSignals { server.stop() }
        try await server.run()
        withExtendedLifetime(stopper) {}
    }
}

/// Calls `stop` once on SIGTERM or SIGINT.
final class StopOnSignals {
    private let sources: [any DispatchSourceSignal]

    init(_ stop: @escaping @Sendable () -> Void) {
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: stop)
            source.resume()
            return source
        }
    }
}
