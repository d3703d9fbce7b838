import Foundation

/// A run as `spool runs` lists it.
public struct RunSummary: Codable, Sendable {
    public var id: String
    public var function: String
    public var status: RunStatus
    public var folder: String
    public var event: String
    public var createdAt: String
    public var finishedAt: String?
    public var wakeAt: String?
    public var error: String?
}

/// One step of a run as `spool show` presents it.
public struct StepSummary: Codable, Sendable {
    public enum State: String, Codable, Sendable { case completed, retrying, failed, sleeping }
    public var id: String
    public var state: State
    public var attempts: Int
    public var durationMs: Double?
    public var error: String?
}

/// Everything `spool show` tells about a run.
public struct RunDetail: Codable, Sendable {
    public var record: RunRecord
    public var folder: String
    public var directory: String
    public var steps: [StepSummary]
    public var onFailureSteps: [StepSummary]
    public var log: [RunLogEntry]
}
