import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes a command that waits on a run as soon as the run may have moved on: an event's marker
/// written into `ids/`, a run staged, published into `runs/`, or moved out of it when it ends.
///
/// Changes that come between two waits are kept by the kernel, so a caller that checks the
/// spool and then waits misses none. Wait with a timeout all the same: a run finished by a
/// server on another machine sharing the folder (NFS, say) raises no inotify event here.
public final class SpoolChanges: @unchecked Sendable {
    // @unchecked: the descriptor is read by one wait at a time and closed in deinit; `stop`
    // is called between waits.
    private let fd: Int32
    private var watches: [Int32] = []

    public init(layout: SpoolLayout) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw SpoolError.system("inotify_init1", path: layout.root) }
        let watches: [(String, Int32)] = [
            (layout.ids, IN_MOVED_TO | IN_CREATE),
            (layout.runs, IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE),
        ]
        for (directory, mask) in watches {
            let watch = inotify_add_watch(fd, directory, UInt32(mask))
            guard watch >= 0 else {
                let error = SpoolError.system("inotify_add_watch", path: directory)
                close(fd)
                throw error
            }
            self.watches.append(watch)
        }
    }

    deinit { close(fd) }

    /// Stops watching, once the wait is over. The kernel frees the watches in the background,
    /// after a grace period that can take 5–15 ms on a busy machine; a descriptor closed with its
    /// watches in place waits for that period, and so does the command's exit.
    public func stop() {
        for watch in watches { inotify_rm_watch(fd, watch) }
        watches = []
    }

    /// Returns once something changed since the last call, or after `timeout`.
    public func next(timeout: Duration) async {
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            BlockingThreads.shared.submit { [self] in
                waitAndDrain(milliseconds: milliseconds)
                continuation.resume()
            }
        }
    }

    private func waitAndDrain(milliseconds: Int32) {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, milliseconds) > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
