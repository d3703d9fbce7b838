import Foundation

/// Thrown from a step (or a function) to fail the run at once, without retries.
public struct NonRetriableError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Thrown from a step to retry it no earlier than `at` (counts as an attempt).
public struct RetryAfterError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let at: Date
    public init(_ message: String, at: Date) {
        self.message = message
        self.at = at
    }
    public init(_ message: String, after delay: Duration, now: Date = Date()) {
        self.init(message, at: now.addingTimeInterval(delay.seconds))
    }
    public var description: String { "\(message) (retry after \(UTCTime.iso8601(at)))" }
}
