import Foundation

/// The event a cancelled run announces, as Inngest's `inngest/function.cancelled`: a function
/// triggered by it cleans up after the run (a record the run would have finished, say).
///
/// It is sent before the run moves to `cancelled/`, with the id `cancelled:<run id>`, so a cancel
/// interrupted between the two and done again announces the run once. No function need handle
/// it: the intake drops it then, since the run's own folder says the same.
public enum RunCancelled {
    public static let eventName = "spool/run.cancelled"

    /// `{"runId", "functionId", "event"}`: the run's triggering event, where event.json is readable.
    public static func event(runID: RunID, function: String, runDirectory: String) -> Event {
        var data: [String: JSONValue] = ["runId": .string(runID.rawValue), "functionId": .string(function)]
        if let event = try? RunExecutor.readEvent(directory: runDirectory),
            let value = try? JSONDecoder().decode(JSONValue.self, from: SpoolJSON.lineEncoder.encode(event))
        {
            data["event"] = value
        }
        return Event(name: eventName, data: .object(data), id: "cancelled:" + runID.rawValue)
    }
}
