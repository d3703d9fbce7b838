import Foundation

/// Moves whole run directories between the state folders, durably.
struct RunMover: Sendable {
    let layout: SpoolLayout
    let writer: DurableWriter

    /// Publishes the run's final run.json, then moves `runs/<id>` to `done/<day>/<id>`,
    /// `failed/<id>` or `cancelled/<day>/<id>` (a new day's folder is made on the way); one flush
    /// makes it all durable. A cancelled run first sends its `RunCancelled` event.
    func finishLiveRun(_ record: RunRecord, to status: RunStatus, at date: Date) async throws {
        if status == .cancelled {
            try await EventProducer(layout: layout, writer: writer).send([
                RunCancelled.event(runID: record.id, function: record.function, runDirectory: layout.liveRun(record.id))
            ])
        }
        let id = record.id
        let target: String
        switch status {
        case .completed: target = layout.doneDay(UTCTime.day(date)) + "/" + id.rawValue
        case .cancelled: target = layout.cancelledDay(UTCTime.day(date)) + "/" + id.rawValue
        case .failed:
            target = layout.failedRun(id)
        default:
            throw SpoolError(.conflict, "a \(status.rawValue) run stays in runs/")
        }
        let directory = layout.liveRun(id)
        try await writer.replace(
            try record.encoded(), at: directory + "/" + RunFiles.record, thenMove: directory, to: target)
    }
}

/// Where a run is: its directory and the folder (state) it sits in.
public struct RunLocation: Sendable, Hashable {
    public let id: RunID
    public let directory: String
    /// `runs`, `done`, `failed` or `cancelled`.
    public let folder: String
}

/// Finds runs on disk by id or by listing the state folders.
public struct RunLocator: Sendable {
    public let layout: SpoolLayout

    public init(layout: SpoolLayout) { self.layout = layout }

    /// The run's current location, looking in live, failed, then the dated folders from newest.
    public func find(_ id: RunID) throws -> RunLocation? {
        if Disk.isDirectory(layout.liveRun(id)) {
            return RunLocation(id: id, directory: layout.liveRun(id), folder: "runs")
        }
        if Disk.isDirectory(layout.failedRun(id)) {
            return RunLocation(id: id, directory: layout.failedRun(id), folder: "failed")
        }
        let created = String(id.rawValue.prefix(8))
        for (folder, root) in [("done", layout.done), ("cancelled", layout.cancelled)] {
            for day in try Disk.listVisible(root).sorted(by: >) {
                let compact = day.replacingOccurrences(of: "-", with: "")
                if compact.count == 8 && compact < created { break }
                let directory = root + "/" + day + "/" + id.rawValue
                if Disk.isDirectory(directory) { return RunLocation(id: id, directory: directory, folder: folder) }
            }
        }
        return nil
    }

    /// Every run in the given folders (all by default), oldest first.
    public func all(in folders: Set<String> = ["runs", "done", "failed", "cancelled"]) throws -> [RunLocation] {
        var locations: [RunLocation] = []
        func add(_ root: String, folder: String) throws {
            for name in try Disk.listVisible(root) {
                guard let id = try? RunID(validating: name) else { continue }
                locations.append(RunLocation(id: id, directory: root + "/" + name, folder: folder))
            }
        }
        if folders.contains("runs") { try add(layout.runs, folder: "runs") }
        if folders.contains("failed") { try add(layout.failed, folder: "failed") }
        for (folder, root) in [("done", layout.done), ("cancelled", layout.cancelled)] where folders.contains(folder) {
            for day in try Disk.listVisible(root) { try add(root + "/" + day, folder: folder) }
        }
        return locations.sorted { $0.id < $1.id }
    }
}
