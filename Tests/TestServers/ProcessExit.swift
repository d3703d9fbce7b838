import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Waits for `process` to end; its exit status, or nil when Foundation lost it.
///
/// Foundation's `waitUntilExit` on Linux can spin for ever: a child that exits before `run()` has
/// marked it running is reaped by Foundation's SIGCHLD handler while `isRunning` stays true (seen
/// in CI: `python3 -c` long gone, a test thread spinning for 17 minutes). Here a child that no
/// longer exists ends the wait within a second.
public func waitForExit(_ process: Process) -> Int32? {
    let pid = process.processIdentifier
    var goneSince: Date?
    while process.isRunning {
        if kill(pid, 0) != 0 && errno == ESRCH {
            // Reaped: Foundation marks it ended a moment later, or never.
            let since = goneSince ?? Date()
            goneSince = since
            if Date().timeIntervalSince(since) > 1 { return nil }
        }
        usleep(2_000)
    }
    return process.terminationStatus
}
