import Foundation

/// One line of a run's log.jsonl: an attempt, a step, an error or a transition.
public struct RunLogEntry: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        case created, started, stepCompleted, stepFailed, sleeping, retrying, interrupted
        case failing, onFailureCompleted, completed, failed, cancelled, requeued, recovered
    }

    public var at: String
    public var kind: Kind
    public var step: String?
    /// The attempt number (1-based) of the step or run.
    public var attempt: Int?
    public var durationMs: Double?
    public var error: String?
    public var wakeAt: String?
    /// The process that wrote the entry: `host:pid`.
    public var by: String?

    public init(
        at: Date, kind: Kind, step: String? = nil, attempt: Int? = nil, durationMs: Double? = nil,
        error: String? = nil, wakeAt: Date? = nil
    ) {
        self.at = UTCTime.iso8601(at)
        self.kind = kind
        self.step = step
        self.attempt = attempt
        self.durationMs = durationMs.map { ($0 * 1000).rounded() / 1000 }
        self.error = error
        self.wakeAt = wakeAt.map(UTCTime.iso8601)
        self.by = ProcessIdentity.current
    }

    /// The entry as one log.jsonl line, without the line end: what `SpoolJSON.lineEncoder` writes.
    public var line: Data {
        var text = JSONObjectText()
        text.add("at", at)
        text.add("kind", kind.rawValue)
        text.add("step", step)
        text.add("attempt", attempt)
        text.add("durationMs", durationMs)
        text.add("error", error)
        text.add("wakeAt", wakeAt)
        text.add("by", by)
        return text.data(pretty: false)
    }
}

/// Reads and appends a run's log.jsonl.
public struct RunLog: Sendable {
    public let path: String
    let writer: DurableWriter

    public init(runDirectory: String, writer: DurableWriter) {
        self.path = runDirectory + "/log.jsonl"
        self.writer = writer
    }

    public func append(_ entry: RunLogEntry) async throws {
        try await writer.append(line: entry.line, to: path)
    }

    /// Every entry that parses; a torn last line (a crash mid-append) is skipped.
    public static func read(_ path: String) -> [RunLogEntry] {
        guard let data = try? Disk.read(path) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(RunLogEntry.self, from: $0) }
    }
}

/// `host:pid`, written into logs so a reader can tell which process did what.
public enum ProcessIdentity {
    public static let current: String = {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: host, as: UTF8.self) + ":" + String(getpid())
    }()
}
