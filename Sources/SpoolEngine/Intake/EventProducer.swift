import Foundation

/// Writes events into `incoming/` the way any producer should: a file in `tmp/`, flushed, then a
/// rename into `incoming/`, flushed.
public struct EventProducer: Sendable {
    public let layout: SpoolLayout
    let writer: DurableWriter

    public init(layout: SpoolLayout, writer: DurableWriter? = nil) {
        self.layout = layout
        self.writer = writer ?? DurableWriter(layout: layout)
    }

    /// Validates and enqueues events; returns the path of the file in `incoming/`.
    @discardableResult
    public func send(_ events: [Event]) async throws -> String {
        for (index, event) in events.enumerated() {
            let value = try JSONDecoder().decode(JSONValue.self, from: SpoolJSON.lineEncoder.encode(event))
            if case .failure(let invalid) = EventParser.validate(value, at: events.count > 1 ? "[\(index)]" : "") {
                throw SpoolError(.invalidInput, "the event is not valid: " + invalid.problems.joined(separator: "; "))
            }
        }
        let body: Data =
            events.count == 1 ? try SpoolJSON.lineEncoder.encode(events[0]) : try SpoolJSON.lineEncoder.encode(events)
        let target = layout.incoming + "/" + UTCTime.compact(Date()) + "-" + Disk.uniqueSuffix() + ".json"
        try await writer.publish(body, at: target, stagingIn: layout.tmp)
        return target
    }
}
