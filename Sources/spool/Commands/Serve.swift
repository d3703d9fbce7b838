import ArgumentParser
import Folksbase
import Foundation
import Logging
import ServiceLifecycle
import SpoolEngine

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Serve the spool: take events from incoming/, run functions, fire cron ticks (SIGTERM stops gracefully).")

    @OptionGroup var options: SpoolOptions
    @OptionGroup var servicesOptions: ServicesOptions

    // `.unconditional`: a negative number is taken as the value (and refused by `validate`), not as a flag.
    @Option(parsing: .unconditional, help: "Runs executed at once by this process.")
    var concurrency: Int = 4

    @Option(parsing: .unconditional, help: "Days finished runs stay in done/ and cancelled/.")
    var retentionDays: Int = 30

    @Option(
        parsing: .unconditional,
        help: "Seconds between rescans of incoming/ and runs/ (inotify catches changes sooner).")
    var rescanSeconds: Double = 5

    @Option(
        parsing: .unconditional,
        help: "Retries after a step's first attempt, for every function (default: each function's own, usually 4).")
    var retries: Int?

    @Option(help: "Back-off table in seconds, e.g. 15,30,60 (default: Inngest's 15s … 2h); the last entry repeats.")
    var backoff: String?

    @Option(parsing: .unconditional, help: "Most random seconds added to each back-off (default 30).")
    var jitter: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    mutating func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard (1...36_500).contains(retentionDays) else {
            throw ValidationError("--retention-days must be from 1 to 36500")
        }
        guard rescanSeconds > 0 else { throw ValidationError("--rescan-seconds must be positive") }
        _ = try Self.duration(seconds: rescanSeconds, of: "--rescan-seconds")
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("unknown --log-level \(logLevel); levels are \(levels)")
        }
        if let retries, retries < 0 { throw ValidationError("--retries cannot be negative") }
        if let jitter, jitter < 0 { throw ValidationError("--jitter cannot be negative") }
        if let jitter { _ = try Self.duration(seconds: jitter, of: "--jitter") }
        _ = try backoffTable()
    }

    /// Seconds given on the command line, refused unless finite and at most a year.
    private static func duration(seconds: Double, of option: String) throws -> Duration {
        guard seconds.isFinite, seconds <= 365 * 24 * 3600 else {
            throw ValidationError("\(option) must be a number of seconds no greater than a year (31536000)")
        }
        return .milliseconds(Int(seconds * 1000))
    }

    private func backoffTable() throws -> [Duration]? {
        guard let backoff else { return nil }
        let table = backoff.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !table.isEmpty, table.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw ValidationError("--backoff must be seconds separated by commas, e.g. 15,30,60")
        }
        return try table.map { try Self.duration(seconds: $0!, of: "--backoff") }
    }

    /// The functions with the retry options applied.
    private func functions(_ services: FolksbaseServices) throws -> [SpoolFunction] {
        let table = try backoffTable()
        let jitter = try jitter.map { try Self.duration(seconds: $0, of: "--jitter") }
        return FolksbaseFunctions.all(services).map { function in
            var function = function
            if let retries { function.retry.retries = retries }
            if let table { function.retry.backoff = table }
            if let jitter { function.retry.jitter = .zero...jitter }
            return function
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel.lowercased())!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "spool")
        let layout = options.layout
        try layout.create()
        let writer = DurableWriter(layout: layout)
        let services = try servicesOptions.services(layout, writer: writer)
        var configuration = SpoolServer.Configuration()
        configuration.concurrency = concurrency
        configuration.retention = .seconds(retentionDays * 24 * 3600)
        configuration.rescanInterval = try Self.duration(seconds: rescanSeconds, of: "--rescan-seconds")
        let server = SpoolServer(
            layout: layout, functions: try functions(services), configuration: configuration, writer: writer,
            logger: logger)
        sayIfFrozen(layout)
        let group = ServiceGroup(
            services: [SpoolService(server: server, layout: layout, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// The server as a lifecycle service: graceful shutdown lets running steps finish.
struct SpoolService: Service {
    let server: SpoolServer
    let layout: SpoolLayout
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: {
            if FreezeGate(layout: layout).isFrozen {
                let root = layout.root
                logger.warning(
                    """
                    stopping, but \(root) is frozen (`spool freeze`): the writes in flight finish after \
                    `spool thaw --spool \(root)`, then the server stops; a SIGKILL now leaves nothing \
                    half-written (a step whose result was not recorded runs again)
                    """)
            }
            server.stop()
        }
    }
}
