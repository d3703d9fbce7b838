import Foundation

/// Where a run is in its life; the folder it sits in follows from it.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, sleeping, retrying
    /// The run failed and its `onFailure` handler has yet to finish.
    case failing
    case completed, failed, cancelled

    public var isLive: Bool {
        switch self {
        case .queued, .running, .sleeping, .retrying, .failing: return true
        case .completed, .failed, .cancelled: return false
        }
    }
}

/// A step error as recorded in run.json and log.jsonl.
public struct RecordedError: Codable, Sendable, Hashable {
    public var message: String
    /// The step that failed, or nil for an error thrown between steps.
    public var step: String?
    public var type: String
    public var nonRetriable: Bool?
    public var at: String

    public init(message: String, step: String?, type: String, nonRetriable: Bool = false, at: Date) {
        self.message = message
        self.step = step
        self.type = type
        self.nonRetriable = nonRetriable ? true : nil
        self.at = UTCTime.iso8601(at)
    }

    var jsonText: JSONObjectText {
        var text = JSONObjectText()
        text.add("message", message)
        text.add("step", step)
        text.add("type", type)
        text.add("nonRetriable", nonRetriable)
        text.add("at", at)
        return text
    }
}

/// The contents of run.json: the run's state, replaced atomically at each transition.
public struct RunRecord: Codable, Sendable, Hashable {
    public var id: RunID
    public var function: String
    public var status: RunStatus
    public var eventName: String
    public var eventID: String
    public var createdAt: String
    public var updatedAt: String
    public var startedAt: String?
    public var finishedAt: String?
    /// Failed attempts of `currentStep` so far: 0 once it succeeds, and once the run is failing
    /// (`onFailure`'s steps count their own; the log keeps every attempt).
    public var attempt: Int
    /// The step being retried or slept on.
    public var currentStep: String?
    /// When a sleeping or retrying run resumes.
    public var wakeAt: String?
    public var lastError: RecordedError?
    /// How many times `spool retry` has put this run back.
    public var manualRetries: Int?
    /// The run this one replays (`spool replay`).
    public var replayOf: String?

    public init(id: RunID, function: String, event: Event, eventID: String, now: Date) {
        self.id = id
        self.function = function
        self.status = .queued
        self.eventName = event.name
        self.eventID = eventID
        self.createdAt = UTCTime.iso8601(now)
        self.updatedAt = self.createdAt
        self.attempt = 0
    }

    public var wakeDate: Date? { wakeAt.flatMap(UTCTime.parseISO8601) }

    public static func read(from path: String) throws -> RunRecord {
        let data = try Disk.read(path)
        do {
            return try decode(data)
        } catch {
            throw SpoolError(.invalidInput, "\(path) is not a valid run record: \(describe(error))")
        }
    }

    static func decode(_ data: Data) throws -> RunRecord {
        try JSONDecoder().decode(RunRecord.self, from: data)
    }

    /// run.json's text: what `SpoolJSON.encoder` writes for the record.
    public func encoded() throws -> Data {
        var text = JSONObjectText()
        text.add("id", id.rawValue)
        text.add("function", function)
        text.add("status", status.rawValue)
        text.add("eventName", eventName)
        text.add("eventID", eventID)
        text.add("createdAt", createdAt)
        text.add("updatedAt", updatedAt)
        text.add("startedAt", startedAt)
        text.add("finishedAt", finishedAt)
        text.add("attempt", attempt)
        text.add("currentStep", currentStep)
        text.add("wakeAt", wakeAt)
        text.add("lastError", lastError.map(\.jsonText))
        text.add("manualRetries", manualRetries)
        text.add("replayOf", replayOf)
        return text.data(pretty: true)
    }
}

/// The JSON style of every file the spool writes: sorted keys, ISO-8601 dates, readable with `cat`.
public enum SpoolJSON {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom(encodeDate)
        return encoder
    }()

    /// One line, for log.jsonl.
    public static let lineEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom(encodeDate)
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = UTCTime.parseISO8601(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "\(text) is not an ISO-8601 time")
            }
            return date
        }
        return decoder
    }()

    private static func encodeDate(_ date: Date, _ encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(UTCTime.iso8601(date))
    }
}
