import Foundation

/// How often a failing step is retried, and how long to wait between attempts.
public struct RetryPolicy: Sendable, Hashable {
    /// Retries after the first attempt: 4 means 5 attempts in all.
    public var retries: Int
    /// The wait before retry 1, 2, …; the last entry repeats.
    public var backoff: [Duration]
    /// Random extra wait added to each back-off, so retries of many runs spread out.
    public var jitter: ClosedRange<Duration>

    /// Inngest's table: 15s, 30s, 1m, 2m, 5m, 10m, 20m, 40m, 1h, 2h.
    public static let inngestBackoff: [Duration] = [
        .seconds(15), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600), .seconds(1200),
        .seconds(2400), .seconds(3600), .seconds(7200),
    ]

    public init(
        retries: Int = 4,
        backoff: [Duration] = RetryPolicy.inngestBackoff,
        jitter: ClosedRange<Duration> = .zero ... .seconds(30)
    ) {
        precondition(retries >= 0, "retries cannot be negative")
        precondition(!backoff.isEmpty, "the back-off table needs at least one entry")
        self.retries = retries
        self.backoff = backoff
        self.jitter = jitter
    }

    /// The wait before the attempt that follows `failedAttempts` failures (1 = after the first).
    public func delay(afterFailedAttempts failedAttempts: Int) -> TimeInterval {
        let base = backoff[min(max(failedAttempts, 1), backoff.count) - 1]
        let low = jitter.lowerBound.seconds
        let high = jitter.upperBound.seconds
        let extra = high > low ? Double.random(in: low...high) : low
        return base.seconds + extra
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    public var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
