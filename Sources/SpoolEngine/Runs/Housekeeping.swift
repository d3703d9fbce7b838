import Foundation
import Logging

/// Periodic tidying that never touches accepted work: old finished runs, expired dedupe markers,
/// temp files of writers that died, and staging directories nobody finished.
struct Housekeeping: Sendable {
    let layout: SpoolLayout
    let retention: TimeInterval
    let dedupeWindow: TimeInterval
    let logger: Logger

    /// Removes `done/<day>` and `cancelled/<day>` folders older than the retention; `failed/` stays.
    func pruneFinishedRuns(now: Date) throws -> Int {
        let oldest = UTCTime.day(now.addingTimeInterval(-retention))
        var removed = 0
        for root in [layout.done, layout.cancelled] {
            for day in try Disk.listVisible(root) where day.count == 10 && day < oldest {
                try Disk.removeTree(root + "/" + day)
                removed += 1
            }
        }
        return removed
    }

    /// Removes temp files (`.<name>.tmp-*`) older than a minute from the live runs and engine folders.
    /// Ages are read on the file system's clock, which wrote the modification times, never on the
    /// scheduling clock: a writer's temp file of a moment ago is never stale.
    func removeStaleTempFiles() throws -> Int {
        let now = Date()
        var folders = [layout.tmp, layout.runs, layout.ids, layout.cron, layout.rejected]
        for run in try Disk.listVisible(layout.runs) where Disk.isDirectory(layout.runs + "/" + run) {
            let directory = layout.runs + "/" + run
            folders += [directory, directory + "/" + RunFiles.steps, directory + "/" + RunFiles.onFailureSteps]
        }
        var removed = 0
        for folder in folders {
            for name in try Disk.list(folder) where name.hasPrefix(".") && isStale(folder + "/" + name, now: now) {
                // A claim is accepted input, whatever its original name holds: the rescan finishes it.
                if name.contains(".tmp-") && !name.hasPrefix(ClaimName.prefix) {
                    try Disk.removeFile(folder + "/" + name)
                    removed += 1
                } else if name.hasPrefix(".stage-") && !hasLiveClaim() {
                    // A staging directory whose claim is gone was never accepted (e.g. a replay that died).
                    try Disk.removeTree(folder + "/" + name)
                    removed += 1
                }
            }
        }
        return removed
    }

    func run(now: Date) {
        do {
            let pruned = try pruneFinishedRuns(now: now)
            let markers = try DedupeMarkers(layout: layout, window: dedupeWindow).prune(now: now)
            let temps = try removeStaleTempFiles()
            if pruned + markers + temps > 0 {
                logger.info(
                    "housekeeping removed \(pruned) day folder(s) past retention, \(markers) expired id marker(s), \(temps) stale temp file(s)"
                )
            }
        } catch {
            logger.error("housekeeping failed: \(error)")
        }
    }

    private func isStale(_ path: String, now: Date) -> Bool {
        guard let modified = Disk.modificationDate(path) else { return false }
        return now.timeIntervalSince(modified) > 60
    }

    private func hasLiveClaim() -> Bool {
        ((try? Disk.list(layout.tmp)) ?? []).contains { $0.hasPrefix(ClaimName.prefix) }
    }
}
