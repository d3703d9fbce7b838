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
