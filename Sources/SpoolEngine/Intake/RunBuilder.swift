import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a run in a dot-named staging directory, then renames it into `runs/` complete (rule 2).
struct RunBuilder: Sendable {
    let layout: SpoolLayout

    /// The staging path for a run; dot-named, so every reader ignores it.
    func stagingDirectory(for id: RunID) -> String { layout.runs + "/.stage-" + id.rawValue }

    /// Writes event.json, run.json, steps/ and the first log line, each flushed; returns the staging path.
    /// Runs on a writer thread (blocking I/O).
    func stage(
        id: RunID, function: String, event: Event, eventID: String, now: Date, replayOf: RunID? = nil
    ) throws -> String {
        let staging = stagingDirectory(for: id)
        if Disk.exists(staging) { try Disk.removeTree(staging) }
        try Disk.makeDirectory(staging)
        try Disk.makeDirectory(staging + "/" + RunFiles.steps)
        try DurableWriter.publishNow(try SpoolJSON.encoder.encode(event), at: staging + "/" + RunFiles.event)
        var record = RunRecord(id: id, function: function, event: event, eventID: eventID, now: now)
        record.replayOf = replayOf?.rawValue
        try DurableWriter.publishNow(try record.encoded(), at: staging + "/" + RunFiles.record)
        var line = try SpoolJSON.lineEncoder.encode(RunLogEntry(at: now, kind: .created))
        line.append(UInt8(ascii: "\n"))
        try DurableWriter.publishNow(line, at: staging + "/" + RunFiles.log)
        return staging
    }

    /// Renames staged runs into `runs/` and flushes `runs/` once for all of them.
    func publish(_ staged: [(staging: String, id: RunID)]) throws {
        guard !staged.isEmpty else { return }
        for (staging, id) in staged { try Disk.renameNoReplace(staging, layout.liveRun(id)) }
        try Disk.fsyncDirectory(layout.runs)
    }
}
