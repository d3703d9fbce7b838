import Logging

/// What a function's handler receives: the event, the run, and the step API.
public struct RunContext: Sendable {
    public let event: Event
    public let runID: RunID
    public let functionID: String
    public let step: Step
    public let logger: Logger
    let runDirectory: String
    /// Set for a new run whose first step may start before the run is on disk in `runs/`.
    let admission: Admission?

    /// The run's directory in `runs/`, for files a function keeps beside its steps (CSV chunks,
    /// export parts). It waits until the run is there: a new run's first step may start while the
    /// intake is still making the run durable.
    public func directory() async throws -> String {
        try await admission?.admitted()
        return runDirectory
    }
}

/// What an `onFailure` handler receives: the failed run's event and the error that ended it.
public struct FailureContext: Sendable {
    public let event: Event
    public let runID: RunID
    public let functionID: String
    public let error: RecordedError
    /// Steps of the failure handler, memoized in the run's `on-failure/` folder.
    public let step: Step
    public let directory: String
    public let logger: Logger
}

/// What a step's body receives: enough to make its side effect idempotent.
public struct StepContext: Sendable {
    public let runID: RunID
    /// The step's file name without `.json` (`send-email`, `send-email~1`, …).
    public let stepID: String
    /// 1 on the first attempt.
    public let attempt: Int
    let keyPrefix: String

    /// Unique per run and step, the same on every attempt: for upsert keys, Message-IDs, file names.
    /// A failure handler's steps have keys of their own, and new ones after each `spool retry`, so a
    /// run that fails again sends its failure email again.
    public var idempotencyKey: String { runID.rawValue + "/" + keyPrefix + stepID }
}
