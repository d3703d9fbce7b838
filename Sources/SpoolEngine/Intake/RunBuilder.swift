import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a run in a dot-named staging directory, then renames it into `runs/` complete (rule 2).
struct RunBuilder: Sendable {
    let layout: SpoolLayout

    /// The staging path for a run; dot-named, so every reader ignores it.
    func stagingDirectory(for id: RunID) -> String { layout.runs + "/.stage-" + id.rawValue }

    /// A run written in its staging directory, not yet published.
    struct StagedRun: Sendable {
        let directory: String
        let record: RunRecord
        var id: RunID { record.id }
    }

    /// Writes event.json, run.json, steps/ and the first log line in the run's staging directory.
    /// Nothing is flushed yet: `publish` flushes before it renames.
    func stage(
        id: RunID, function: String, event: Event, eventID: String, now: Date, replayOf: RunID? = nil
    ) throws -> StagedRun {
        let staging = stagingDirectory(for: id)
        if Disk.exists(staging) { try Disk.removeTree(staging) }
        try Disk.makeDirectory(staging)
        try Disk.makeDirectory(staging + "/" + RunFiles.steps)
        try Disk.createFile(staging + "/" + RunFiles.event, contents: try SpoolJSON.encoder.encode(event))
        var record = RunRecord(id: id, function: function, event: event, eventID: eventID, now: now)
        record.replayOf = replayOf?.rawValue
        try Disk.createFile(staging + "/" + RunFiles.record, contents: try record.encoded())
        var line = RunLogEntry(at: now, kind: .created).line
        line.append(UInt8(ascii: "\n"))
        try Disk.createFile(staging + "/" + RunFiles.log, contents: line)
        return StagedRun(directory: staging, record: record)
    }

    /// A ticket to take before staging: `publish` fails if a flush failed while the runs were staged.
    func ticket() throws -> GroupFlush.Ticket { try GroupFlush.of(layout.runs).ticket() }

    /// Whether a live run has the files intake writes, readable: a run found torn while its claim
    /// is still in `tmp/` is rebuilt from the claim rather than set aside.
    func isIntact(_ id: RunID) -> Bool {
        let directory = layout.liveRun(id)
        guard Disk.isDirectory(directory + "/" + RunFiles.steps),
            let record = try? Disk.read(directory + "/" + RunFiles.record),
            let event = try? Disk.read(directory + "/" + RunFiles.event)
        else { return false }
        return (try? RunRecord.decode(record)) != nil && (try? JSONDecoder().decode(Event.self, from: event)) != nil
    }

    /// Flushes the staged runs, renames them into `runs/` (telling `renamed` of each) and flushes again.
    func publish(
        _ staged: [StagedRun], since ticket: GroupFlush.Ticket, renamed: (RunID) -> Void = { _ in }
    ) async throws {
        guard !staged.isEmpty else { return }
        let flush = try GroupFlush.of(layout.runs)
        try await flush.flushed(since: ticket, for: staged[0].directory)
        for run in staged {
            try Disk.renameNoReplace(run.directory, layout.liveRun(run.id))
            renamed(run.id)
        }
        try await flush.flushed(since: ticket, for: layout.runs)
    }
}
