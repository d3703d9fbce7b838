import Foundation
import Logging

/// Executes one run under its lock: re-enters the function, then records the outcome.
struct RunExecutor: Sendable {
    /// What became of a run after an execution attempt; tells the scheduler what to do next.
    enum Outcome: Sendable, Equatable {
        /// Finished (completed, failed or cancelled) and moved out of `runs/`, or gone already.
        case finished
        /// Still live: try again at the date (retry, sleep, or not due yet).
        case wake(at: Date)
        /// Another process holds the run's lock.
        case busy
        /// Left queued because this process is stopping.
        case stopped
    }

    let layout: SpoolLayout
    let registry: FunctionRegistry
    let writer: DurableWriter
    let clock: any SpoolClock
    let logger: Logger
    let isStopping: @Sendable () -> Bool

    /// How long a run runs before run.json says `running`. A shorter run goes from `queued` (or
    /// `retrying`) straight to its outcome, which spares a rewrite of run.json for most runs;
    /// log.jsonl's `started` line says when each attempt began.
    static let runningRecordDelay: TimeInterval = 1

    /// Executes a live run, or a new one handed over by the intake before it is published.
    func execute(_ id: RunID, admitting: AdmittingRun? = nil) async -> Outcome {
        let directory = layout.liveRun(id)
        do {
            if let admitting {
                defer { withExtendedLifetime(admitting.lock) {} }
                return try await executeAdmitting(admitting, directory: directory)
            }
            guard Disk.isDirectory(directory) else {
                if Disk.exists(directory) { try await rejectStray(id) }
                return .finished
            }
            guard let lock = try RunLock.tryAcquire(runDirectory: directory) else {
                return Disk.exists(directory) ? .busy : .finished
            }
            defer { withExtendedLifetime(lock) {} }
            return try await executeLocked(id, directory: directory)
        } catch is Admission.Refused {
            return .finished
        } catch {
            logger.error("run \(id) could not be executed: \(error); it will be tried again in 5 s")
            return .wake(at: clock.now().addingTimeInterval(5))
        }
    }

    private func executeLocked(_ id: RunID, directory: String) async throws -> Outcome {
        let log = RunLog(runDirectory: directory, writer: writer)
        var record: RunRecord
        switch try Self.readRunFile(directory + "/" + RunFiles.record, as: { try RunRecord.decode($0) }) {
        case .success(let found): record = found
        case .failure(let damage):
            return try await setAside(id, directory: directory, damage: damage, record: nil, log: log)
        }
        let now = clock.now()
        if !record.status.isLive {
            // It ended, but was not moved out of runs/ (its process died, or the move failed): only the move is left.
            try await move(record, endedAt: record.finishedAt.flatMap(UTCTime.parseISO8601) ?? now, log: log)
            return .finished
        }
        if try await cancelIfRequested(&record, directory: directory, log: log) { return .finished }
        if let wake = record.wakeDate, wake > now,
            record.status == .retrying || record.status == .sleeping
                || record.status == .failing
        {
            return .wake(at: wake)
        }
        guard let function = registry[record.function] else {
            logger.warning("run \(id) is for function \(record.function), which this process does not serve")
            return .wake(at: now.addingTimeInterval(60))
        }
        let event: Event
        switch try Self.readRunFile(
            directory + "/" + RunFiles.event, as: { try JSONDecoder().decode(Event.self, from: $0) })
        {
        case .success(let found): event = found
        case .failure(let damage):
            return try await setAside(id, directory: directory, damage: damage, record: record, log: log)
        }
        if record.status == .failing {
            return try await runFailureHandler(function, event: event, record: &record, directory: directory, log: log)
        }

        let completed = try Step.completedSteps(in: directory + "/" + RunFiles.steps)
        return try await runHandler(
            function, event: event, record: record, directory: directory, log: log, completedSteps: completed,
            admission: nil)
    }

    /// Starts a new run from the record and event the intake handed over, while the intake
    /// publishes it; `admission` holds back every write in the run's directory until then.
    private func executeAdmitting(_ run: AdmittingRun, directory: String) async throws -> Outcome {
        guard let function = registry[run.record.function] else {
            try await run.admission.admitted()
            return try await executeLocked(run.id, directory: directory)
        }
        let log = RunLog(runDirectory: directory, writer: writer)
        return try await runHandler(
            function, event: run.event, record: run.record, directory: directory, log: log, completedSteps: [],
            admission: run.admission)
    }

    /// Calls the handler, marking the run running if it lasts, and records what its end means.
    private func runHandler(
        _ function: SpoolFunction, event: Event, record: RunRecord, directory: String, log: RunLog,
        completedSteps: Set<String>, admission: Admission?
    ) async throws -> Outcome {
        let id = record.id
        var record = record
        let now = clock.now()
        let resumed = record
        record.status = .running
        record.startedAt = record.startedAt ?? UTCTime.iso8601(now)
        record.updatedAt = UTCTime.iso8601(now)
        // The handler need not wait for this record: each step's publish flushes it too, and
        // settling waits for it, so no later run.json can be overtaken by it. Its steps wait for
        // the log line, which comes first in log.jsonl.
        let started = try record.encoded()
        let startLine = RunLogEntry(at: now, kind: .started, step: record.currentStep, attempt: record.attempt + 1)
        let logged = Task {
            try await admission?.admitted()
            try? await log.append(startLine)
        }
        let recordedStart = Task { [clock, writer] in
            try await admission?.admitted()
            try await clock.sleep(until: now.addingTimeInterval(Self.runningRecordDelay))
            try await writer.replace(started, at: directory + "/" + RunFiles.record, untilDurable: false)
        }

        let step = makeStep(
            id, folder: directory + "/" + RunFiles.steps, completed: completedSteps, logPrefix: "", keyPrefix: "",
            record: resumed,
            retry: function.retry, log: log, beforeWriting: { try await logged.value })
        let context = RunContext(
            event: event, runID: id, functionID: function.id, step: step, logger: runLogger(id),
            runDirectory: directory, admission: admission)
        var thrown: Error?
        do {
            try await function.handler(context)
        } catch {
            thrown = error
        }
        recordedStart.cancel()
        do {
            try await recordedStart.value
        } catch let refused as Admission.Refused {
            throw refused
        } catch is CancellationError {
        } catch {
            // The handler's outcome is settled all the same: the record that settles it replaces
            // the one this was, and a step that failed is recorded as a failed attempt.
            logger.warning("run \(id) could not be marked running: \(error); its attempt is settled anyway")
        }
        try await logged.value
        // A run the intake started early has had no execution before this one, whose writers
        // could have left temp files behind.
        return try await settle(
            function, event: event, record: &record, directory: directory, log: log,
            interruption: step.recordedInterruption, thrown: thrown, tempFilesPossible: admission == nil)
    }

    /// Records what the handler's end means: done, a retry, a sleep, a stop, or a failure.
    private func settle(
        _ function: SpoolFunction, event: Event, record: inout RunRecord, directory: String, log: RunLog,
        interruption: StepInterruption?, thrown: Error?, tempFilesPossible: Bool
    ) async throws -> Outcome {
        let now = clock.now()
        switch interruption ?? thrown.map({ betweenStepsFailure($0, record: record, retry: function.retry) }) {
        case nil:
            try await finish(
                &record, as: .completed, directory: directory, log: log, removingTempFiles: tempFilesPossible)
            return .finished
        case .retry(let step, let at, let error):
            record.attempt = record.currentStep == step ? record.attempt + 1 : 1
            record.currentStep = step
            record.status = .retrying
            record.wakeAt = UTCTime.iso8601(at)
            record.lastError = error
            record.updatedAt = UTCTime.iso8601(now)
            // Logged first, as a fatal failure is: the history keeps the attempt even when the disk
            // that failed the step refuses run.json too.
            try? await log.append(
                RunLogEntry(
                    at: now, kind: .stepFailed, step: step, attempt: record.attempt, error: error.message, wakeAt: at))
            if try await cancelIfRequested(&record, directory: directory, log: log) { return .finished }
            let failure = "step \(step) failed (attempt \(record.attempt)): \(error.message)"
            logger.warning("run \(record.id) \(failure); retrying at \(UTCTime.iso8601(at))")
            try await writer.replace(try record.encoded(), at: directory + "/" + RunFiles.record)
            return .wake(at: at)
        case .sleep(let step, let until):
            if try await cancelIfRequested(&record, directory: directory, log: log) { return .finished }
            record.status = .sleeping
            record.currentStep = step
            record.attempt = 0
            record.wakeAt = UTCTime.iso8601(until)
            record.updatedAt = UTCTime.iso8601(now)
            try await writer.replace(try record.encoded(), at: directory + "/" + RunFiles.record)
            try? await log.append(RunLogEntry(at: now, kind: .sleeping, step: step, wakeAt: until))
            return .wake(at: until)
        case .cancelled:
            try await finish(&record, as: .cancelled, directory: directory, log: log)
            return .finished
        case .stopping:
            record.status = .queued
            record.updatedAt = UTCTime.iso8601(now)
            try await writer.replace(try record.encoded(), at: directory + "/" + RunFiles.record)
            try? await log.append(RunLogEntry(at: now, kind: .interrupted))
            return .stopped
        case .fatal(let error):
            let attempt = record.currentStep == (error.step ?? RunFiles.betweenSteps) ? record.attempt + 1 : 1
            try? await log.append(
                RunLogEntry(at: now, kind: .stepFailed, step: error.step, attempt: attempt, error: error.message))
            record.currentStep = error.step ?? RunFiles.betweenSteps
            record.status = .failing
            record.lastError = error
            record.attempt = 0
            record.wakeAt = nil
            record.updatedAt = UTCTime.iso8601(now)
            try await writer.replace(try record.encoded(), at: directory + "/" + RunFiles.record)
            try? await log.append(RunLogEntry(at: now, kind: .failing, step: error.step, error: error.message))
            return try await runFailureHandler(function, event: event, record: &record, directory: directory, log: log)
        }
    }

    /// Cancels the run if `spool cancel` asked for it: before it runs, or while its handler ran rather
    /// than at its retry or wake time.
    private func cancelIfRequested(_ record: inout RunRecord, directory: String, log: RunLog) async throws -> Bool {
        guard Disk.exists(directory + "/" + RunFiles.cancelRequest) else { return false }
        try await finish(&record, as: .cancelled, directory: directory, log: log)
        return true
    }

    /// An error thrown outside any step counts as a failed attempt of the function itself.
    private func betweenStepsFailure(_ error: Error, record: RunRecord, retry: RetryPolicy) -> StepInterruption {
        let attempt = (record.currentStep == RunFiles.betweenSteps ? record.attempt : 0) + 1
        return .after(error, step: nil, attempt: attempt, retries: retry.retries, policy: retry, now: clock.now())
    }

    /// Runs `onFailure` (memoized in `on-failure/`), then moves the run to `failed/`.
    private func runFailureHandler(
        _ function: SpoolFunction, event: Event, record: inout RunRecord, directory: String, log: RunLog
    ) async throws -> Outcome {
        guard let onFailure = function.onFailure, let error = record.lastError else {
            try await finish(&record, as: .failed, directory: directory, log: log)
            return .finished
        }
        let folder = directory + "/" + RunFiles.onFailureSteps
        try await writer.makeDirectory(folder)
        let step = makeStep(
            record.id, folder: folder, completed: try Step.completedSteps(in: folder),
            logPrefix: RunFiles.onFailureSteps + "/", keyPrefix: Self.failureKeyPrefix(record), record: record,
            retry: function.retry, log: log,
            beforeWriting: {})
        let context = FailureContext(
            event: event, runID: record.id, functionID: function.id, error: error, step: step, directory: directory,
            logger: runLogger(record.id))
        var thrown: Error?
        do {
            try await onFailure(context)
        } catch {
            thrown = error
        }
        let now = clock.now()
        switch step.recordedInterruption {
        case .retry(let failedStep, let at, let stepError):
            record.attempt = record.currentStep == failedStep ? record.attempt + 1 : 1
            record.currentStep = failedStep
            record.wakeAt = UTCTime.iso8601(at)
            record.updatedAt = UTCTime.iso8601(now)
            try await writer.replace(try record.encoded(), at: directory + "/" + RunFiles.record)
            try? await log.append(
                RunLogEntry(
                    at: now, kind: .stepFailed, step: "on-failure/" + failedStep, attempt: record.attempt,
                    error: stepError.message, wakeAt: at))
            return .wake(at: at)
        case .sleep(let sleepingStep, let until):
            record.currentStep = sleepingStep
            record.wakeAt = UTCTime.iso8601(until)
            record.updatedAt = UTCTime.iso8601(now)
            try await writer.replace(try record.encoded(), at: directory + "/" + RunFiles.record)
            try? await log.append(
                RunLogEntry(at: now, kind: .sleeping, step: RunFiles.onFailureSteps + "/" + sleepingStep, wakeAt: until)
            )
            return .wake(at: until)
        case .stopping:
            return .stopped
        case .cancelled:
            try await finish(&record, as: .cancelled, directory: directory, log: log)
            return .finished
        case .fatal(let stepError):
            try? await log.append(
                RunLogEntry(
                    at: now, kind: .stepFailed, step: stepError.step.map { "on-failure/" + $0 },
                    error: "onFailure gave up: " + stepError.message))
        case nil:
            if let thrown {
                try? await log.append(RunLogEntry(at: now, kind: .stepFailed, error: "onFailure threw: \(thrown)"))
            } else {
                try? await log.append(RunLogEntry(at: now, kind: .onFailureCompleted))
            }
        }
        try await finish(&record, as: .failed, directory: directory, log: log)
        return .finished
    }

    /// Writes the final run.json and moves the run directory into its state folder.
    private func finish(
        _ record: inout RunRecord, as status: RunStatus, directory: String, log: RunLog,
        removingTempFiles: Bool = true
    ) async throws {
        let now = clock.now()
        record.status = status
        record.finishedAt = UTCTime.iso8601(now)
        record.updatedAt = record.finishedAt!
        record.wakeAt = nil
        if status == .completed {
            record.currentStep = nil
            record.attempt = 0
            record.lastError = nil
        }
        if removingTempFiles { await removeLeftoverTempFiles(in: directory) }
        try await move(record, endedAt: now, log: log)
    }

    /// Logs the end of `record`, a run that ended, then writes it as run.json and moves the run into its state folder.
    private func move(_ record: RunRecord, endedAt date: Date, log: RunLog) async throws {
        let status = record.status
        let kind: RunLogEntry.Kind = status == .completed ? .completed : status == .failed ? .failed : .cancelled
        try? await log.append(
            RunLogEntry(at: clock.now(), kind: kind, error: status == .failed ? record.lastError?.message : nil))
        do {
            try await RunMover(layout: layout, writer: writer).finishLiveRun(record, to: status, at: date)
        } catch {
            // The line above said the run ended; this one says it did not, so the log stays true.
            try? await log.append(
                RunLogEntry(
                    at: clock.now(), kind: .interrupted,
                    error: "could not be moved out of runs/ as \(status.rawValue): \(error); it is finished again"))
            throw error
        }
        if status == .failed, let error = record.lastError {
            let step = error.step.map { " at step \($0)" } ?? ""
            logger.error("run \(record.id) failed\(step): \(error.message); `spool retry \(record.id)` resumes it")
        } else {
            logger.info("run \(record.id) \(status.rawValue)")
        }
    }

    /// Removes the temp files of writers killed mid-publish in earlier executions, so none moves
    /// with the run into `done/` or `failed/`, where housekeeping no longer looks. Only the lock
    /// holder writes in a run's folders (but `spool cancel`, whose temp files are left alone).
    private func removeLeftoverTempFiles(in directory: String) async {
        _ = try? await writer.perform {
            let folders = [directory] + ((try? Disk.list(directory)) ?? []).map { directory + "/" + $0 }
            for folder in folders where Disk.isDirectory(folder) {
                for name in (try? Disk.list(folder)) ?? []
                where name.hasPrefix(".") && name.contains(".tmp-") && !name.hasPrefix("." + RunFiles.cancelRequest) {
                    try? Disk.removeFile(folder + "/" + name)
                }
            }
        }
    }

    /// Moves something in `runs/` that is not a run (a stray file, a symbolic link, a folder with
    /// none of a run's files) to `rejected/`: every reader of `runs/` expects run directories.
    private func rejectStray(_ id: RunID, reason: String = "not a run: runs/ holds only run directories") async throws {
        let now = clock.now()
        let rejection = Rejection(layout: layout)
        let target = try await writer.perform {
            try rejection.reject(
                layout.liveRun(id), originalName: id.rawValue, from: "runs", reason: reason,
                hint: "move it where it belongs", now: now)
        }
        logger.warning("runs/\(id) is not a run directory; moved to \(target)")
    }

    /// A run file that is missing or does not parse; the run cannot be executed without it.
    struct RunFileDamage: Error {
        var file: String
        var missing: Bool
        var detail: String
    }

    /// Reads and decodes a run file; a missing or unparseable file is a failure, an I/O error throws.
    static func readRunFile<T>(_ path: String, as decode: (Data) throws -> T) throws -> Result<T, RunFileDamage> {
        let data: Data
        do {
            data = try Disk.read(path)
        } catch let error as SpoolError where error.errno == ENOENT {
            return .failure(RunFileDamage(file: Disk.name(of: path), missing: true, detail: "is missing"))
        } catch let error as SpoolError where error.code == .invalidInput {
            let detail = "cannot be read (\(error.message.replacingOccurrences(of: path + " ", with: "")))"
            return .failure(RunFileDamage(file: Disk.name(of: path), missing: false, detail: detail))
        }
        do {
            return .success(try decode(data))
        } catch {
            let detail = "does not parse (\(EventParser.jsonProblem(data, error)))"
            return .failure(RunFileDamage(file: Disk.name(of: path), missing: false, detail: detail))
        }
    }

    /// How long a run directory missing a file is given to be completed by whoever is copying it in.
    static let copyGrace: TimeInterval = 5

    /// Moves a run whose run.json or event.json is missing or torn to `failed/`, for an operator.
    ///
    /// Such a run cannot be executed, and trying again every few seconds would only fill the log.
    /// A torn file is kept beside a new run.json whose error says what happened and what to do;
    /// the steps done so far are kept, so `spool retry` resumes the run once it is whole. The
    /// function's `onFailure` does not run: the job did not fail, its files did.
    private func setAside(
        _ id: RunID, directory: String, damage: RunFileDamage, record: RunRecord?, log: RunLog
    ) async throws -> Outcome {
        let now = clock.now()
        let path = directory + "/" + damage.file
        if damage.missing, let changed = Disk.modificationDate(directory),
            now.timeIntervalSince(changed) < Self.copyGrace
        {
            logger.warning("run \(id) has no \(damage.file) yet; waiting for whoever is copying it in")
            return .wake(at: changed.addingTimeInterval(Self.copyGrace))
        }
        if damage.missing, damage.file == RunFiles.record,
            ![RunFiles.event, RunFiles.log].contains(where: { Disk.exists(directory + "/" + $0) })
        {
            try await rejectStray(
                id, reason: "not a run: a folder in runs/ without run.json, event.json or log.jsonl")
            return .finished
        }
        var message = "\(damage.file) \(damage.detail)"
        if !damage.missing {
            let aside = path + ".unreadable-" + Disk.uniqueSuffix()
            try await writer.move(path, to: aside)
            message += "; it is kept as \(Disk.name(of: aside))"
        }
        message +=
            damage.file == RunFiles.record
            ? "; a new run.json marks the run failed, its steps are kept: `spool retry \(id)` resumes it"
            : "; restore it, then `spool retry \(id)`"
        var failed = record ?? Self.rebuiltRecord(id, directory: directory, now: now)
        failed.lastError = RecordedError(message: message, step: nil, type: "DamagedRun", nonRetriable: true, at: now)
        logger.error("run \(id) cannot be executed: \(message); it goes to failed/")
        try await finish(&failed, as: .failed, directory: directory, log: log)
        return .finished
    }

    /// A run record rebuilt from the run's id, its event (if it parses) and its log, for a lost run.json.
    private static func rebuiltRecord(_ id: RunID, directory: String, now: Date) -> RunRecord {
        let event = try? readEvent(directory: directory)
        // `<compact time>-<function>-<8 hex digits>`
        let raw = id.rawValue
        let function = raw.count > 30 ? String(raw.dropFirst(21).dropLast(9)) : raw
        var record = RunRecord(
            id: id, function: function, event: event ?? Event(name: "(unknown: event.json is unreadable)"),
            eventID: event?.id ?? "(unknown)", now: now)
        if let created = RunLog.read(directory + "/" + RunFiles.log).first(where: { $0.kind == .created }) {
            record.createdAt = created.at
        }
        // Each `spool retry` set a failure's handler steps aside; their count keeps the next failure's keys new.
        let setAside = RunFiles.setAsideFailureSteps(in: directory)
        if setAside > 0 { record.manualRetries = setAside }
        return record
    }

    /// `on-failure/` for the failure handler's steps, then `on-failure/retry-N/` once the run has
    /// been retried N times with `spool retry` and failed again.
    static func failureKeyPrefix(_ record: RunRecord) -> String {
        let retries = record.manualRetries ?? 0
        return RunFiles.onFailureSteps + "/" + (retries > 0 ? "retry-\(retries)/" : "")
    }

    private func makeStep(
        _ id: RunID, folder: String, completed: Set<String>, logPrefix: String, keyPrefix: String, record: RunRecord,
        retry: RetryPolicy, log: RunLog, beforeWriting: @escaping @Sendable () async throws -> Void
    ) -> Step {
        let cancelPath = layout.liveRun(id) + "/" + RunFiles.cancelRequest
        let isStopping = self.isStopping
        return Step(
            runID: id, directory: folder, completed: completed, record: record, retry: retry, writer: writer,
            clock: clock, log: log, logPrefix: logPrefix, keyPrefix: keyPrefix,
            checkInterruption: {
                if Disk.exists(cancelPath) { return .cancelled }
                if isStopping() { return .stopping }
                return nil
            },
            beforeWriting: beforeWriting)
    }

    private func runLogger(_ id: RunID) -> Logger {
        var logger = self.logger
        logger[metadataKey: "run"] = "\(id)"
        return logger
    }

    static func readEvent(directory: String) throws -> Event {
        let path = directory + "/" + RunFiles.event
        do {
            return try JSONDecoder().decode(Event.self, from: Disk.read(path))
        } catch {
            throw SpoolError(.invalidInput, "\(path) is not a valid event: \(describe(error))")
        }
    }
}

/// Names of the files inside a run directory.
public enum RunFiles {
    public static let event = "event.json"
    public static let record = "run.json"
    public static let log = "log.jsonl"
    public static let steps = "steps"
    public static let onFailureSteps = "on-failure"
    /// Written by `spool cancel`; the run stops at its next step boundary.
    public static let cancelRequest = "cancel.json"
    /// The pseudo-step under which errors thrown between steps are counted.
    static let betweenSteps = "(between-steps)"

    /// How many earlier failures' handler steps `spool retry` has set aside in a run's directory,
    /// as `on-failure.1/`, `on-failure.2/`, ….
    static func setAsideFailureSteps(in directory: String) -> Int {
        (1...).prefix { Disk.exists(directory + "/" + onFailureSteps + ".\($0)") }.count
    }
}
