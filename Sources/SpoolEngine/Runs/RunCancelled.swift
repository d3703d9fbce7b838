import Foundation

/// The event a cancelled run announces, as Inngest's `inngest/function.cancelled`: a function
/// triggered by it cleans up after the run (a record the run would have finished, say).
///
/// It is sent before the run moves to `cancelled/`, with the id `cancelled:<run id>`, so a cancel
/// interrupted between the two and done again announces the run once. No function need handle
/// it: the intake drops it then, since the run's own folder says the same.
public enum RunCancelled {
    public static let eventName = "spool/run.cancelled"

    /// The largest triggering event carried whole; of a larger one only its name and id are, so the
    /// announcement stays well inside the intake's limit on a file.
    static let maxEmbeddedEventBytes = 1 << 20

    /// `{"runId", "functionId", "event"}`: the run's triggering event, where event.json is readable.
    public static func event(runID: RunID, function: String, runDirectory: String) -> Event {
        var data: [String: JSONValue] = ["runId": .string(runID.rawValue), "functionId": .string(function)]
        if let event = try? RunExecutor.readEvent(directory: runDirectory),
            let encoded = try? SpoolJSON.lineEncoder.encode(event),
            let value = try? JSONDecoder().decode(JSONValue.self, from: encoded)
        {
            data["event"] =
                encoded.count <= maxEmbeddedEventBytes
                ? value : .object(["name": .string(event.name), "id": event.id.map(JSONValue.string) ?? .null])
        }
        return Event(name: eventName, data: .object(data), id: "cancelled:" + runID.rawValue)
    }
}
