import Foundation

/// What an operator does to runs: list, show, retry, replay and cancel them.
///
/// Works on the files alone, so it runs beside (or without) a server; a server notices
/// runs that appear in `runs/` through inotify.
public struct SpoolAdmin: Sendable {
    public enum CancelOutcome: Sendable, Equatable {
        case cancelled
        /// A process is executing the run; it stops at its next step boundary.
        case requested
    }

    public let layout: SpoolLayout
    let writer: DurableWriter
    let clock: any SpoolClock

    public init(layout: SpoolLayout, writer: DurableWriter? = nil, clock: any SpoolClock = SystemClock()) {
        self.layout = layout
        self.writer = writer ?? DurableWriter(layout: layout)
        self.clock = clock
    }

    private var locator: RunLocator { RunLocator(layout: layout) }

    public func runs(status: RunStatus? = nil, function: String? = nil) throws -> [RunSummary] {
        let folders: Set<String> =
            switch status {
            case nil: ["runs", "done", "failed", "cancelled"]
            case .completed?: ["done"]
            case .failed?: ["failed"]
            case .cancelled?: ["cancelled"]
            default: ["runs"]
            }
        return try locator.all(in: folders).compactMap { location in
            let record: RunRecord
            do {
                record = try RunRecord.read(from: location.directory + "/" + RunFiles.record)
            } catch {
                // Listed where its folder says what it is, so that it is seen (and `retry --all-failed` names it).
                guard function == nil, let folderStatus = Self.finishedStatus(of: location.folder),
                    status == nil || status == folderStatus
                else { return nil }
                return RunSummary(
                    id: location.id.rawValue, function: "?", status: folderStatus, folder: location.folder, event: "?",
                    createdAt: "?", finishedAt: nil, wakeAt: nil, error: "\(RunFiles.record) cannot be read: \(error)")
            }
            // A finished run's folder is its status: the record can say otherwise for a moment (a retry
            // rewrites it before moving the run back into runs/, and may be interrupted between).
            if let status, location.folder == "runs", record.status != status { return nil }
            if let function, record.function != function { return nil }
            return RunSummary(
                id: record.id.rawValue, function: record.function,
                status: Self.finishedStatus(of: location.folder) ?? record.status, folder: location.folder,
                event: record.eventName, createdAt: record.createdAt, finishedAt: record.finishedAt,
                wakeAt: record.wakeAt, error: record.lastError?.message)
        }
    }

    /// The status a run in a finished folder has, whatever its record says; nil for `runs/`.
    private static func finishedStatus(of folder: String) -> RunStatus? {
        switch folder {
        case "done": .completed
        case "failed": .failed
        case "cancelled": .cancelled
        default: nil
        }
    }

    public func detail(_ id: RunID) throws -> RunDetail {
        let location = try locate(id)
        let record = try RunRecord.read(from: location.directory + "/" + RunFiles.record)
        let log = RunLog.read(location.directory + "/" + RunFiles.log)
        let ended = Self.finishedStatus(of: location.folder) != nil || !record.status.isLive
        return RunDetail(
            record: record, folder: location.folder, directory: location.directory,
            steps: try steps(in: location.directory + "/" + RunFiles.steps, log: log, prefix: "", runEnded: ended),
            onFailureSteps: try steps(
                in: location.directory + "/" + RunFiles.onFailureSteps, log: log, prefix: "on-failure/",
                runEnded: ended),
            log: log)
    }

    /// Whether the run is still being built by intake (its id is known from the event's marker a
    /// moment before the run appears in `runs/`). Ask before `location(of:)`, so no move falls between.
    public func isStaged(_ id: RunID) -> Bool {
        Disk.exists(RunBuilder(layout: layout).stagingDirectory(for: id))
    }

    /// The runs an event with an explicit id started, once intake has taken it (from its `ids/` marker).
    public func runIDs(forEvent eventID: String) -> [RunID] {
        let marker = DedupeMarkers(layout: layout, window: .infinity).marker(for: eventID)
        return marker?.runs.compactMap { try? RunID(validating: $0) } ?? []
    }

    /// When an event with `eventID` was accepted, while its marker is in `ids/` (the dedupe window).
    public func eventAcceptedAt(_ eventID: String) -> String? {
        DedupeMarkers(layout: layout, window: .infinity).marker(for: eventID)?.at
    }

    /// Where a run is now, or nil if it is nowhere in the spool.
    public func location(of id: RunID) throws -> RunLocation? { try locator.find(id) }

    /// Moves a failed run back into `runs/`; it resumes at the step that failed. A cancel request
    /// that came too late to stop it is withdrawn: the retry is the later word.
    public func retry(_ id: RunID) async throws {
        let directory = layout.failedRun(id)
        guard Disk.isDirectory(directory) else {
            let location = try locate(id)
            throw SpoolError(
                .conflict,
                "run \(id) is in \(location.folder)/, not failed/; only failed runs can be retried"
                    + (location.folder == "runs" ? "" : " (`spool replay \(id)` starts a new run from its event)"))
        }
        let now = clock.now()
        var record = try RunRecord.read(from: directory + "/" + RunFiles.record)
        record.status = .queued
        record.attempt = 0
        record.wakeAt = nil
        record.finishedAt = nil
        record.manualRetries = (record.manualRetries ?? 0) + 1
        record.updatedAt = UTCTime.iso8601(now)
        let failureSteps = directory + "/" + RunFiles.onFailureSteps
        if Disk.exists(failureSteps) {
            let setAside = RunFiles.setAsideFailureSteps(in: directory) + 1
            try await writer.move(failureSteps, to: failureSteps + ".\(setAside)")
        }
        try await withdrawCancelRequest(in: directory)
        try await writer.replace(try record.encoded(), at: directory + "/" + RunFiles.record)
        try await RunLog(runDirectory: directory, writer: writer).append(
            RunLogEntry(at: now, kind: .requeued, step: record.currentStep))
        try await writer.move(directory, to: layout.liveRun(id))
    }

    /// Starts a new run of the same function from the same event; returns its id.
    public func replay(_ id: RunID) async throws -> RunID {
        let location = try locate(id)
        let record = try RunRecord.read(from: location.directory + "/" + RunFiles.record)
        let event = try RunExecutor.readEvent(directory: location.directory)
        let now = clock.now()
        let newID = RunID(date: now, function: record.function)
        let builder = RunBuilder(layout: layout)
        try await writer.gated {
            let ticket = try builder.ticket()
            let staged = try builder.stage(
                id: newID, function: record.function, event: event, eventID: record.eventID, now: now, replayOf: id)
            try await builder.publish([staged], since: ticket)
        }
        return newID
    }

    /// Cancels a live run: at once if no process is executing it, else at its next step boundary.
    public func cancel(_ id: RunID) async throws -> CancelOutcome {
        let directory = layout.liveRun(id)
        guard Disk.isDirectory(directory) else {
            let location = try locate(id)
            throw SpoolError(
                .conflict, "run \(id) is in \(location.folder)/; only live runs (in runs/) can be cancelled")
        }
        let now = clock.now()
        let request = ["requestedAt": UTCTime.iso8601(now), "by": ProcessIdentity.current]
        do {
            // Staged in tmp/: a run that moves meanwhile takes no half-written request with it.
            try await writer.publish(
                try SpoolJSON.encoder.encode(request), at: directory + "/" + RunFiles.cancelRequest,
                stagingIn: layout.tmp)
        } catch  where !Disk.isDirectory(directory) {
            return try await outcomeOfARunThatLeft(id)
        }
        return try await settleCancelRequest(id, requestedAt: now)
    }

    /// Once the request is on disk: cancels the run now if no process is executing it.
    func settleCancelRequest(_ id: RunID, requestedAt now: Date) async throws -> CancelOutcome {
        let directory = layout.liveRun(id)
        guard let lock = try RunLock.tryAcquire(runDirectory: directory) else {
            return Disk.exists(directory) ? .requested : try await outcomeOfARunThatLeft(id)
        }
        defer { withExtendedLifetime(lock) {} }
        var record = try RunRecord.read(from: directory + "/" + RunFiles.record)
        guard record.status.isLive else {
            try await withdrawCancelRequest(in: directory)
            throw SpoolError(
                .conflict,
                "run \(id) has ended (\(record.status.rawValue)) and waits in runs/ for `spool serve` to move it; "
                    + "nothing to cancel")
        }
        record.status = .cancelled
        record.finishedAt = UTCTime.iso8601(now)
        record.updatedAt = record.finishedAt!
        record.wakeAt = nil
        try await RunLog(runDirectory: directory, writer: writer).append(RunLogEntry(at: now, kind: .cancelled))
        try await RunMover(layout: layout, writer: writer).finishLiveRun(record, to: .cancelled, at: now)
        return .cancelled
    }

    /// A run that left `runs/` after the request was written: its executor cancelled it, or it had
    /// ended already (the request, too late, is withdrawn), or it failed and `spool retry` brought
    /// it back, which withdrew the request.
    public func outcomeOfARunThatLeft(_ id: RunID) async throws -> CancelOutcome {
        let location = try locate(id)
        switch location.folder {
        case "cancelled":
            return .cancelled
        case "runs":
            if Disk.exists(location.directory + "/" + RunFiles.cancelRequest) { return .requested }
            throw SpoolError(
                .conflict,
                "run \(id) failed and was retried (`spool retry`) before the cancel request reached it, which "
                    + "withdrew the request; cancel it again if it should stop")
        default:
            try await withdrawCancelRequest(in: location.directory)
            throw SpoolError(
                .conflict,
                "run \(id) ended in \(location.folder)/ before the cancel request reached it; nothing to cancel")
        }
    }

    /// Removes a run's cancel request, behind the freeze gate like every other change to the spool.
    private func withdrawCancelRequest(in directory: String) async throws {
        let path = directory + "/" + RunFiles.cancelRequest
        try await writer.perform { try Disk.removeFile(path) }
    }

    private func locate(_ id: RunID) throws -> RunLocation {
        guard let location = try locator.find(id) else {
            throw SpoolError(.notFound, "no run \(id) in \(layout.root) (see `spool runs`)")
        }
        return location
    }

    /// Steps from the step files and the log: attempts, duration of the last attempt, last error.
    private func steps(
        in folder: String, log: [RunLogEntry], prefix: String, runEnded: Bool
    ) throws -> [StepSummary] {
        var order: [String] = []
        var byID: [String: StepSummary] = [:]
        func entry(_ id: String) -> StepSummary {
            if byID[id] == nil {
                order.append(id)
                byID[id] = StepSummary(id: id, state: .failed, attempts: 0)
            }
            return byID[id]!
        }
        for line in log {
            guard let name = line.step, name.hasPrefix(prefix) || prefix.isEmpty,
                !(prefix.isEmpty && name.hasPrefix("on-failure/"))
            else { continue }
            let id = String(name.dropFirst(prefix.count))
            var step = entry(id)
            switch line.kind {
            // Attempts are counted, not read: a `spool retry` numbers them from 1 again.
            case .stepCompleted:
                step.attempts += 1
                step.state = .completed
                step.durationMs = line.durationMs
            case .stepFailed:
                if line.attempt != nil { step.attempts += 1 }
                step.state = line.wakeAt == nil ? .failed : .retrying
                step.error = line.error
            case .sleeping:
                step.state = .sleeping
            default:
                continue
            }
            byID[id] = step
        }
        for name in try Disk.listVisible(folder) where name.hasSuffix(".json") {
            let id = String(name.dropLast(5))
            var step = entry(id)
            step.state = .completed
            step.attempts = max(step.attempts, 1)
            byID[id] = step
        }
        // A run that ended while a step waited to retry or to wake leaves that step failed.
        return order.compactMap { byID[$0] }.map { step in
            var step = step
            if runEnded && (step.state == .retrying || step.state == .sleeping) { step.state = .failed }
            return step
        }
    }
}
