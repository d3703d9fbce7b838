import Foundation
import Logging

/// The event a cron tick starts its function with.
public enum CronTick {
    public static let eventName = "spool/scheduled.timer"

    /// `cron:<function>:<scheduled time>`: the same tick from any process or restart dedupes.
    public static func eventID(function: String, scheduledAt: Date) -> String {
        "cron:\(function):\(UTCTime.iso8601(scheduledAt))"
    }

    public static func event(function: String, scheduledAt: Date) -> Event {
        Event(
            name: eventName,
            data: .object(["function": .string(function), "scheduledAt": .string(UTCTime.iso8601(scheduledAt))]),
            id: eventID(function: function, scheduledAt: scheduledAt),
            ts: Int64(scheduledAt.timeIntervalSince1970 * 1000))
    }
}

/// Fires each cron function's ticks as events into `incoming/`, remembering the last in `cron/<id>.json`.
///
/// After downtime only the most recent missed tick fires. A spool that has never seen a function
/// starts counting from now.
///
/// A tick is written down as pending before its event is sent, and as the last tick after. A
/// process that stops between the two leaves it pending: on the next start, a live run of that
/// tick's event means the tick fired, and it is not fired again, however long the spool was
/// down (the event id's dedupe marker lasts only 24 h). Processes serving one spool fire and
/// settle a function's ticks holding `cron/.<function>.lock`, so one fires each tick and none
/// writes over a tick another has recorded.
struct CronTicker: Sendable {
    struct State: Codable {
        var function: String
        var expression: String
        var lastTick: String
        var firedAt: String?
        /// The tick whose event is being sent; nil once it is the last tick.
        var pendingTick: String?
    }

    let layout: SpoolLayout
    let registry: FunctionRegistry
    let producer: EventProducer
    let writer: DurableWriter
    let clock: any SpoolClock
    let logger: Logger

    func run() async {
        let schedules = registry.cronFunctions
        guard !schedules.isEmpty else { return }
        await withTaskGroup(of: Void.self) { group in
            for (function, expression) in schedules {
                group.addTask { await tick(function.id, expression) }
            }
        }
    }

    private func tick(_ function: String, _ expression: CronExpression) async {
        var last = lastTick(of: function, expression: expression)
        while !Task.isCancelled {
            do {
                let now = clock.now()
                if last == nil {
                    last = expression.previous(atOrBefore: now) ?? now
                    try await record(function, expression, tick: last!, fired: false)
                }
                if let missed = expression.previous(atOrBefore: now), missed > last! {
                    try await fire(function, expression, at: missed)
                    last = missed
                    continue
                }
                guard let next = expression.next(after: max(last!, now)) else {
                    logger.warning("cron \(function) (\(expression)) has no future tick; it will not fire")
                    return
                }
                try await clock.sleep(until: next)
            } catch is CancellationError {
                return
            } catch {
                logger.error("cron \(function) could not fire: \(error); trying again in a minute")
                try? await clock.sleep(until: clock.now().addingTimeInterval(60))
            }
        }
    }

    /// Settles the ticks a stopped process left pending; call it before any run can end, so that
    /// the runs those ticks started are still in `runs/`.
    func settlePendingTicks() async {
        for (function, expression) in registry.cronFunctions {
            guard let left = state(of: function.id, expression: expression),
                let pending = left.pendingTick.flatMap(UTCTime.parseISO8601),
                pending > UTCTime.parseISO8601(left.lastTick) ?? .distantPast
            else { continue }
            let eventID = CronTick.eventID(function: function.id, scheduledAt: pending)
            guard liveRunsExist(forEvent: eventID) else { continue }
            do {
                let lock = try await FileLock.acquireWaiting(lockPath(function.id))
                defer { lock.release() }
                guard state(of: function.id, expression: expression)?.pendingTick == left.pendingTick else { continue }
                try await record(function.id, expression, tick: pending, fired: true)
                logger.info(
                    "cron \(function.id): its \(UTCTime.iso8601(pending)) tick started a run before the last stop; not firing it again"
                )
            } catch {
                logger.error("cron \(function.id) could not record its \(UTCTime.iso8601(pending)) tick: \(error)")
            }
        }
    }

    /// Fires `tick` unless another process has recorded it (or a later one) already; says whether it fired.
    @discardableResult
    func fire(_ function: String, _ expression: CronExpression, at tick: Date) async throws -> Bool {
        let lock = try await FileLock.acquireWaiting(lockPath(function))
        defer { lock.release() }
        let recorded = state(of: function, expression: expression)
        if let last = recorded.flatMap({ UTCTime.parseISO8601($0.lastTick) }), last >= tick { return false }
        var pending =
            recorded ?? State(function: function, expression: expression.text, lastTick: UTCTime.iso8601(tick))
        pending.pendingTick = UTCTime.iso8601(tick)
        try await writer.publish(try SpoolJSON.encoder.encode(pending), at: statePath(function))
        try await producer.send([CronTick.event(function: function, scheduledAt: tick)])
        try await record(function, expression, tick: tick, fired: true)
        logger.info("cron \(function) fired its \(UTCTime.iso8601(tick)) tick")
        return true
    }

    private func record(_ function: String, _ expression: CronExpression, tick: Date, fired: Bool) async throws {
        let state = State(
            function: function, expression: expression.text, lastTick: UTCTime.iso8601(tick),
            firedAt: fired ? UTCTime.iso8601(clock.now()) : nil)
        try await writer.publish(try SpoolJSON.encoder.encode(state), at: statePath(function))
    }

    private func lastTick(of function: String, expression: CronExpression) -> Date? {
        state(of: function, expression: expression).flatMap { UTCTime.parseISO8601($0.lastTick) }
    }

    /// The recorded state, if it is for this schedule.
    private func state(of function: String, expression: CronExpression) -> State? {
        guard let data = try? Disk.read(statePath(function)),
            let state = try? JSONDecoder().decode(State.self, from: data), state.expression == expression.text
        else { return nil }
        return state
    }

    private func liveRunsExist(forEvent eventID: String) -> Bool {
        ((try? RunLocator(layout: layout).all(in: ["runs"])) ?? []).contains { run in
            (try? RunRecord.read(from: run.directory + "/" + RunFiles.record))?.eventID == eventID
        }
    }

    private func statePath(_ function: String) -> String { layout.cron + "/" + function + ".json" }

    func lockPath(_ function: String) -> String { layout.cron + "/." + function + ".lock" }
}
