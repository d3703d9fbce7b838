import Foundation
import Logging

/// The step API: each step's result is memoized in `steps/<step-id>.json`, so a replay skips it.
///
/// A step runs at least once; its result is visible exactly once. The first run returns the
/// stored value after a JSON round trip, so the first run and a replay see the same value.
/// Steps with different names may run at once (from a task group, as Inngest's `Promise.all`):
/// the first failure stops new steps from starting, and those already running finish and keep
/// their results.
public final class Step: @unchecked Sendable {
    // @unchecked: mutable state is only touched under `lock`.
    private let lock = NSLock()
    private var occurrences: [String: Int] = [:]
    private var interruption: StepInterruption?

    private let runID: RunID
    private let directory: String
    private var completed: Set<String>
    private let record: RunRecord
    private let retry: RetryPolicy
    private let writer: DurableWriter
    private let clock: any SpoolClock
    private let log: RunLog
    private let checkInterruption: @Sendable () -> StepInterruption?
    /// Awaited before a step's result is published: a run started early is not yet in `runs/`.
    private let beforeWriting: @Sendable () async throws -> Void
    /// Prefixes step ids in log.jsonl (`on-failure/` for the failure handler's steps).
    private let logPrefix: String
    /// Prefixes step ids in idempotency keys, so no two steps of a run share one.
    private let keyPrefix: String

    init(
        runID: RunID, directory: String, completed: Set<String>, record: RunRecord, retry: RetryPolicy,
        writer: DurableWriter, clock: any SpoolClock, log: RunLog, logPrefix: String,
        keyPrefix: String, checkInterruption: @escaping @Sendable () -> StepInterruption?,
        beforeWriting: @escaping @Sendable () async throws -> Void
    ) {
        self.logPrefix = logPrefix
        self.keyPrefix = keyPrefix
        self.runID = runID
        self.directory = directory
        self.record = record
        self.retry = retry
        self.writer = writer
        self.clock = clock
        self.log = log
        self.checkInterruption = checkInterruption
        self.beforeWriting = beforeWriting
        self.completed = completed
    }

    /// The ids of the steps whose results are in `directory`.
    static func completedSteps(in directory: String) throws -> Set<String> {
        Set(try Disk.listVisible(directory).filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) })
    }

    /// Runs `body` once per run and returns its memoized result.
    ///
    /// - Parameter retries: overrides the function's retry count for this step.
    public func run<T: Codable & Sendable>(
        _ name: String, retries: Int? = nil, _ body: @Sendable (StepContext) async throws -> T
    ) async throws -> T {
        let id = try nextID(for: name)
        if let stored: T = try await memoized(id) { return stored }
        try throwIfInterrupted()
        let attempt = failedAttempts(of: id) + 1
        let context = StepContext(runID: runID, stepID: id, attempt: attempt, keyPrefix: keyPrefix)
        let started = ContinuousClock.now
        let value: T
        do {
            value = try await body(context)
        } catch let interruption as StepInterruption {
            throw interruption
        } catch {
            throw fail(id, attempt: attempt, retries: retries ?? retry.retries, error: error)
        }
        let data = try SpoolJSON.encoder.encode(StepResult(data: value))
        try await beforeWriting()
        do {
            try await writer.publish(data, at: path(of: id))
        } catch {
            throw failedPublish(id, attempt: attempt, retries: retries ?? retry.retries, error: error)
        }
        markCompleted(id)
        try? await log.append(
            RunLogEntry(
                at: clock.now(), kind: .stepCompleted, step: logPrefix + id, attempt: attempt,
                durationMs: (ContinuousClock.now - started).seconds * 1000))
        return try SpoolJSON.decoder.decode(StepResult<T>.self, from: data).data
    }

    /// A step whose body returns nothing.
    public func run(
        _ name: String, retries: Int? = nil, _ body: @Sendable (StepContext) async throws -> Void
    ) async throws {
        let _: Nothing = try await run(name, retries: retries) { context in
            try await body(context)
            return Nothing()
        }
    }

    /// Pauses the run for `duration` without holding a worker; survives restarts.
    public func sleep(_ name: String, for duration: Duration) async throws {
        try await sleep(name) { now in now.addingTimeInterval(duration.seconds) }
    }

    /// Pauses the run until `date` without holding a worker; survives restarts.
    public func sleepUntil(_ name: String, _ date: Date) async throws {
        try await sleep(name) { _ in date }
    }

    private func sleep(_ name: String, wakeAt: (Date) -> Date) async throws {
        let id = try nextID(for: name)
        if let _: String = try await memoized(id) { return }
        try throwIfInterrupted()
        let now = clock.now()
        let deadline: Date
        // The deadline recorded when this sleep began stands, also after a stop or a crash put the run
        // back in the queue, and in onFailure; a retrying sleep is one whose deadline passed but whose
        // file could not be published.
        if record.currentStep == id, let recorded = record.wakeDate {
            deadline = recorded
        } else {
            deadline = wakeAt(now)
        }
        guard deadline <= now else { throw interrupt(.sleep(step: id, until: deadline)) }
        try await beforeWriting()
        do {
            try await writer.publish(
                try SpoolJSON.encoder.encode(StepResult(data: UTCTime.iso8601(deadline))), at: path(of: id))
        } catch {
            throw failedPublish(id, attempt: failedAttempts(of: id) + 1, retries: retry.retries, error: error)
        }
        markCompleted(id)
        try? await log.append(RunLogEntry(at: now, kind: .stepCompleted, step: logPrefix + id, attempt: 1))
    }

    /// The interruption that stopped the handler, if any (read by the executor).
    var recordedInterruption: StepInterruption? { lock.withLock { interruption } }

    private func nextID(for name: String) throws -> String {
        guard !name.isEmpty else { throw SpoolError(.invalidInput, "a step needs a name") }
        let encoded = SafeName.encode(name)
        let count = lock.withLock {
            let count = occurrences[encoded, default: 0]
            occurrences[encoded] = count + 1
            return count
        }
        return count == 0 ? encoded : encoded + "~\(count)"
    }

    private func path(of id: String) -> String { directory + "/" + id + ".json" }

    private func markCompleted(_ id: String) { _ = lock.withLock { completed.insert(id) } }

    /// The stored result of a completed step; a file that does not parse is moved aside (rule 3),
    /// with a line in log.jsonl saying so, and the step runs again.
    private func memoized<T: Decodable>(_ id: String) async throws -> T? {
        guard lock.withLock({ completed.contains(id) }) else { return nil }
        let path = path(of: id)
        let problem: String
        do {
            let data = try Disk.read(path)
            do {
                return try SpoolJSON.decoder.decode(StepResult<T>.self, from: data).data
            } catch {
                problem = EventParser.jsonProblem(data, error)
            }
        } catch let error as SpoolError where error.code == .io && error.errno != ENOENT {
            throw error
        } catch {
            problem = describe(error)
        }
        let aside = path + ".unreadable-" + Disk.uniqueSuffix()
        try? Disk.rename(path, aside)
        _ = lock.withLock { completed.remove(id) }
        try? await beforeWriting()
        try? await log.append(
            RunLogEntry(
                at: clock.now(), kind: .recovered, step: logPrefix + id,
                error: "\(Disk.name(of: path)) does not hold this step's result (\(problem)); "
                    + "kept as \(Disk.name(of: aside)), the step runs again"))
        return nil
    }

    private func failedAttempts(of id: String) -> Int {
        record.currentStep == id && record.status != .sleeping ? record.attempt : 0
    }

    private func throwIfInterrupted() throws {
        if let existing = lock.withLock({ interruption }) { throw existing }
        if let requested = checkInterruption() { throw interrupt(requested) }
    }

    private func fail(_ id: String, attempt: Int, retries: Int, error: Error) -> StepInterruption {
        interrupt(.after(error, step: id, attempt: attempt, retries: retries, policy: retry, now: clock.now()))
    }

    /// A step whose result could not be published failed (write rule 4): a rename that went through
    /// before the flush after it failed is undone, so the step's file and its log agree.
    private func failedPublish(_ id: String, attempt: Int, retries: Int, error: Error) -> StepInterruption {
        try? Disk.removeFile(path(of: id))
        return fail(id, attempt: attempt, retries: retries, error: error)
    }

    /// The first interruption stops the run; among steps run at once that fail, the one the run
    /// was retrying is recorded, so its attempts keep counting however the failures interleave.
    private func interrupt(_ reason: StepInterruption) -> StepInterruption {
        lock.withLock {
            if let existing = interruption {
                let retried = record.currentStep
                guard let failed = reason.failedStep, failed == retried, let earlier = existing.failedStep,
                    earlier != retried
                else { return existing }
            }
            interruption = reason
            return reason
        }
    }
}

extension StepInterruption {
    /// The step whose failure this is, if it is one.
    var failedStep: String? {
        switch self {
        case .retry(let step, _, _): step
        case .fatal(let error): error.step
        default: nil
        }
    }
}

/// The on-disk shape of a step file: `{"data": ...}`.
struct StepResult<T> {
    let data: T
}

extension StepResult: Encodable where T: Encodable {}
extension StepResult: Decodable where T: Decodable {}

/// The stored value of a step that returns nothing (`{"data": {}}`).
struct Nothing: Codable, Sendable {}
