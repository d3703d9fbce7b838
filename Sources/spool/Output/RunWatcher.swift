import Foundation
import SpoolEngine

/// Follows the run an event starts, for commands that wait: finds it, shows progress, reports the end.
struct RunWatcher {
    let admin: SpoolAdmin
    let interactive = isatty(STDERR_FILENO) == 1
    /// Wakes the waits below when the spool changes; they also look again after a timeout. Nil
    /// when inotify is unavailable (its per-user limit reached, say): then they look every 200 ms.
    private let changes: SpoolChanges?

    init(admin: SpoolAdmin) {
        self.admin = admin
        self.changes = try? SpoolChanges(layout: admin.layout)
    }

    private func nextChange(timeout: Duration) async throws {
        if let changes {
            await changes.next(timeout: timeout)
        } else {
            try await Task.sleep(for: min(timeout, .milliseconds(200)))
        }
    }

    /// The run the event started; tells the user if no server seems to be taking events.
    func run(forEvent eventID: String) async throws -> RunID {
        let started = Date()
        var warned = false
        while true {
            if let id = admin.runIDs(forEvent: eventID).first { return id }
            if !warned && Date().timeIntervalSince(started) > 3 {
                printToStandardError(
                    "waiting for a server to take the event; is `spool serve --spool \(admin.layout.root)` running?")
                warned = true
            }
            try await nextChange(timeout: .milliseconds(250))
            try Task.checkCancellation()
        }
    }

    /// Waits until the run is finished; `progress` describes a live run for the terminal.
    func waitUntilFinished(_ id: RunID, progress: (RunLocation) -> String?) async throws -> RunDetail {
        var shown = ""
        while true {
            let staged = admin.isStaged(id)
            guard let location = try admin.location(of: id) else {
                if staged {
                    try await nextChange(timeout: .milliseconds(250))
                    continue
                }
                throw SpoolError(.notFound, "run \(id) disappeared from the spool")
            }
            if location.folder != "runs" {
                changes?.stop()
                if interactive && !shown.isEmpty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                return try admin.detail(id)
            }
            if interactive, let line = progress(location), line != shown {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
                shown = line
            }
            // The terminal's progress line is redrawn at least every 200 ms; otherwise only a change wakes us.
            try await nextChange(timeout: interactive ? .milliseconds(200) : .seconds(1))
            try Task.checkCancellation()
        }
    }
}
