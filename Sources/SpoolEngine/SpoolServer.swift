import Foundation
import Logging

/// Serves a spool: watches `incoming/`, turns events into runs, executes due runs, fires cron ticks.
///
/// Several servers (processes) can serve one spool: claims and run locks make each unit of work
/// belong to one of them at a time.
public final class SpoolServer: Sendable {
    public struct Configuration: Sendable {
        /// Runs executed at once by this process.
        public var concurrency: Int = 4
        /// How often `incoming/` and `runs/` are rescanned besides inotify.
        public var rescanInterval: Duration = .seconds(5)
        /// How long finished runs stay in `done/` and `cancelled/`.
        public var retention: Duration = .seconds(30 * 24 * 3600)
        /// How long an event id blocks a second event with the same id.
        public var dedupeWindow: Duration = .seconds(24 * 3600)
        /// How often housekeeping (retention, expired markers, stale temp files) runs.
        public var housekeepingInterval: Duration = .seconds(3600)

        public init() {}
    }

    public let layout: SpoolLayout
    public let registry: FunctionRegistry
    public let configuration: Configuration
    private let clock: any SpoolClock
    private let logger: Logger
    private let writer: DurableWriter
    private let scheduler: Scheduler
    /// Set by `stop()`; `run()` waits for it, steps check it at their boundaries.
    private let stopRequest = LockedValue<(requested: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init(
        layout: SpoolLayout, functions: [SpoolFunction], configuration: Configuration = Configuration(),
        writer: DurableWriter? = nil, clock: any SpoolClock = SystemClock(),
        logger: Logger = Logger(label: "spool")
    ) {
        self.layout = layout
        self.registry = FunctionRegistry(functions)
        self.configuration = configuration
        self.writer = writer ?? DurableWriter(layout: layout)
        self.clock = clock
        self.logger = logger
        self.scheduler = Scheduler(clock: clock)
    }

    /// Serves until `stop()`: running steps finish, no new step starts, nothing is left half-written.
    public func run() async throws {
        try layout.create()
        let watcher = try DirectoryWatcher(directories: [layout.incoming, layout.runs])
        let changes = watcher.changes()
        let intake = makeIntake()

        for id in try await intake.recoverClaims() { await scheduler.schedule(id, at: clock.now()) }
        try await scanRuns()
        try await scanIncoming(intake, settled: false)
        await makeCronTicker().settlePendingTicks()

        let workers = (0..<max(1, configuration.concurrency)).map { _ in Task { await self.workLoop() } }
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.follow(changes, intake: intake) }
                group.addTask { await self.rescanLoop(intake) }
                group.addTask { await self.housekeepingLoop() }
                group.addTask { await self.makeCronTicker().run() }
            }
        }
        logger.info(
            "serving \(layout.root) with \(configuration.concurrency) worker(s), \(registry.functions.count) function(s)"
        )

        await waitForStop()
        logger.info("stopping: running steps finish, no new step starts")
        await scheduler.stop()
        watcher.stop()
        background.cancel()
        for worker in workers { await worker.value }
        await background.value
        logger.info("stopped")
    }

    /// Asks `run()` to return after the steps in progress finish.
    public func stop() {
        let waiter = stopRequest.withLock { request in
            request.requested = true
            defer { request.waiter = nil }
            return request.waiter
        }
        waiter?.resume()
    }

    /// How many live runs this process knows of (for tests and status).
    public var liveRunCount: Int { get async { await scheduler.liveCount } }

    private func waitForStop() async {
        await withCheckedContinuation { continuation in
            let requested = stopRequest.withLock { request in
                if !request.requested { request.waiter = continuation }
                return request.requested
            }
            if requested { continuation.resume() }
        }
    }

    private func workLoop() async {
        let executor = RunExecutor(
            layout: layout, registry: registry, writer: writer, clock: clock, logger: logger,
            isStopping: { [stopRequest] in stopRequest.withLock { $0.requested } })
        while let id = await scheduler.next() {
            switch await executor.execute(id, admitting: await scheduler.takeAdmitting(id)) {
            case .finished: await scheduler.finished(id, wakeAt: nil)
            case .wake(let date): await scheduler.finished(id, wakeAt: date)
            case .busy:
                await scheduler.finished(
                    id, wakeAt: clock.now().addingTimeInterval(configuration.rescanInterval.seconds))
            case .stopped: await scheduler.finished(id, wakeAt: nil)
            }
        }
    }

    /// Events taken from `incoming/` at once: intakes wait on flushes, so many share each one.
    static let concurrentIntakes = 32

    private func follow(_ changes: AsyncStream<DirectoryWatcher.Change>, intake: Intake) async {
        await withTaskGroup(of: Void.self) { intakes in
            var inFlight = 0
            for await change in changes {
                switch change {
                case .appeared(let directory, let name) where directory == layout.incoming:
                    if inFlight == Self.concurrentIntakes {
                        await intakes.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    intakes.addTask { await self.accept(name, intake: intake, settled: true) }
                case .appeared(_, let name):
                    if let id = try? RunID(validating: name) { await scheduler.scheduleIfUnknown(id, at: clock.now()) }
                case .overflow:
                    logger.warning("inotify queue overflowed; rescanning")
                    do {
                        try await scanRuns()
                        try await scanIncoming(intake, settled: false)
                    } catch {
                        logger.error("rescan failed: \(error); the next scan tries again")
                    }
                }
            }
        }
    }

    /// Takes one file from `incoming/` and schedules its runs; a failure leaves the file in place.
    private func accept(_ name: String, intake: Intake, settled: Bool) async {
        do {
            for id in try await intake.accept(name, settled: settled) {
                await scheduler.scheduleIfUnknown(id, at: clock.now())
            }
        } catch {
            let claimed = "tmp/\(ClaimName.prefix)…~\(name)"
            logger.error(
                "intake of incoming/\(name) failed: \(error); the file stays in incoming/ (or as \(claimed) once claimed) and is tried again at the next scan"
            )
        }
    }

    private func rescanLoop(_ intake: Intake) async {
        while !Task.isCancelled {
            do {
                try await clock.sleep(until: clock.now().addingTimeInterval(configuration.rescanInterval.seconds))
                for id in try await intake.recoverClaims() { await scheduler.schedule(id, at: clock.now()) }
                try await scanIncoming(intake, settled: false)
                try await scanRuns()
            } catch is CancellationError {
                return
            } catch {
                logger.error("rescan failed: \(error)")
            }
        }
    }

    private func housekeepingLoop() async {
        let housekeeping = Housekeeping(
            layout: layout, retention: configuration.retention.seconds,
            dedupeWindow: configuration.dedupeWindow.seconds, logger: logger)
        while !Task.isCancelled {
            let now = clock.now()
            _ = try? await writer.perform { housekeeping.run(now: now) }
            do {
                try await clock.sleep(until: now.addingTimeInterval(configuration.housekeepingInterval.seconds))
            } catch {
                return
            }
        }
    }

    private func scanIncoming(_ intake: Intake, settled: Bool) async throws {
        let names = try Disk.listVisible(layout.incoming).sorted()
        await withTaskGroup(of: Void.self) { intakes in
            for (index, name) in names.enumerated() {
                if index >= Self.concurrentIntakes { await intakes.next() }
                intakes.addTask { await self.accept(name, intake: intake, settled: settled) }
            }
        }
    }

    /// Schedules every live run not yet known: new ones now, waiting ones at their wake time.
    private func scanRuns() async throws {
        let now = clock.now()
        for name in try Disk.listVisible(layout.runs) {
            guard let id = try? RunID(validating: name), !(await scheduler.isKnown(id)) else { continue }
            let record = try? RunRecord.read(from: layout.liveRun(id) + "/" + RunFiles.record)
            await scheduler.schedule(id, at: record?.wakeDate ?? now)
        }
    }

    private func makeIntake() -> Intake {
        Intake(
            layout: layout, registry: registry, writer: writer, clock: clock,
            dedupeWindow: configuration.dedupeWindow.seconds, logger: logger,
            startEarly: { [scheduler] run in await scheduler.schedule(admitting: run) })
    }

    private func makeCronTicker() -> CronTicker {
        CronTicker(
            layout: layout, registry: registry, producer: EventProducer(layout: layout, writer: writer), writer: writer,
            clock: clock, logger: logger)
    }
}
