import Foundation

/// Why a run's handler stopped before its end; thrown through the handler to the executor.
///
/// Handlers must let it propagate: catching it and calling another step throws it again.
public enum StepInterruption: Error, Sendable {
    /// A step failed and will be retried at the date.
    case retry(step: String, at: Date, error: RecordedError)
    /// A step failed for good (non-retriable, or out of retries).
    case fatal(RecordedError)
    /// A sleep step waits until the date.
    case sleep(step: String, until: Date)
    /// `spool cancel` asked the run to stop.
    case cancelled
    /// The process is shutting down; the run continues elsewhere or after restart.
    case stopping
}

extension StepInterruption {
    /// What a failed attempt leads to: a retry at the back-off's time (or a `RetryAfterError`'s),
    /// or the end of the run when the error is non-retriable or the retries are used up.
    /// - Parameter step: the failed step, or nil for an error thrown between steps.
    static func after(
        _ error: Error, step: String?, attempt: Int, retries: Int, policy: RetryPolicy, now: Date
    ) -> StepInterruption {
        let nonRetriable = error is NonRetriableError
        let recorded = RecordedError(
            message: String(describing: error), step: step, type: String(describing: type(of: error)),
            nonRetriable: nonRetriable, at: now)
        if nonRetriable || attempt > retries { return .fatal(recorded) }
        let at = (error as? RetryAfterError)?.at ?? now.addingTimeInterval(policy.delay(afterFailedAttempts: attempt))
        return .retry(step: step ?? RunFiles.betweenSteps, at: at, error: recorded)
    }
}
