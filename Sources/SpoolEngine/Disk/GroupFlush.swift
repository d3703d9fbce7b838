import CSpoolSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Group commit for one file system: every writer that needs its writes on disk asks for a flush,
/// blocking its thread (`wait`) or suspending its task (`flushed`), and one `syncfs(2)` serves
/// every request made before it started (write rule 5).
///
/// `syncfs` makes every file's data and every directory entry of the file system durable, so one
/// call stands in for the fsync of each file and each directory a batch touched. A failed flush
/// is never retried: it fails its own batch and every writer that began before it failed, since
/// the pages it dropped may be theirs (PostgreSQL's fsyncgate).
public final class GroupFlush: @unchecked Sendable {
    /// Taken before writing; a flush waited on with it fails if any flush failed since.
    public struct Ticket: Sendable {
        fileprivate let failuresBefore: Int
    }

    private let descriptor: Int32
    private let condition = NSCondition()
    private var requested = 0
    private var completed = 0
    private var flushing = false
    private var failures = 0
    private var lastFailure: Int32 = 0
    /// `syncfs` calls made so far, and flushes asked for.
    private var flushes = 0
    var counts: (flushes: Int, requests: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (flushes, requested)
    }
    /// Requests the last flush served: above one, writers are busy and worth gathering.
    private var lastBatchSize = 0
    /// Requests of callers suspended in `flushed`, resumed by the flush that serves them.
    private var suspended: [(request: Int, continuation: CheckedContinuation<Void, Never>)] = []

    /// How long a leader waits for a silent moment before flushing, and at most in all: the
    /// writers woken by one flush ask for the next a few microseconds apart.
    static let gatherQuiet: TimeInterval = 0.000_1
    static let gatherLimit: TimeInterval = 0.001

    private init(descriptor: Int32) { self.descriptor = descriptor }

    private static let byDevice = LockedValue<[UInt64: GroupFlush]>([:])

    /// The flush of the file system that holds `path` (an existing file or directory).
    public static func of(_ path: String) throws -> GroupFlush {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SpoolError.system("stat", path: path) }
        let device = UInt64(info.st_dev)
        if let known = byDevice.withLock({ $0[device] }) { return known }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { throw SpoolError.system("open", path: path) }
        return byDevice.withLock { flushes in
            if let known = flushes[device] {
                close(fd)
                return known
            }
            let flush = GroupFlush(descriptor: fd)
            flushes[device] = flush
            return flush
        }
    }

    public func ticket() -> Ticket {
        condition.lock()
        defer { condition.unlock() }
        return Ticket(failuresBefore: failures)
    }

    /// Returns once everything written before the call is on disk; blocks the calling thread.
    /// A failure names `path`, the file or directory the caller needed on disk.
    public func wait(since ticket: Ticket, for path: String) throws {
        condition.lock()
        defer { condition.unlock() }
        requested += 1
        let request = requested
        while completed < request {
            if flushing {
                condition.wait()
                continue
            }
            lead()
        }
        startLeaderForSuspended()
        try check(ticket, for: path)
    }

    /// `wait`, without holding a thread meanwhile: the flush runs on a writer thread, which
    /// resumes every caller it served.
    public func flushed(since ticket: Ticket, for path: String) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            defer { condition.unlock() }
            requested += 1
            suspended.append((requested, continuation))
            startLeaderForSuspended()
        }
        try checked(ticket, for: path)
    }

    private func checked(_ ticket: Ticket, for path: String) throws {
        condition.lock()
        defer { condition.unlock() }
        try check(ticket, for: path)
    }

    /// Starts a flush on a writer thread when a suspended request waits and no flush runs; a
    /// thread blocked in `wait` may be leading, but none will lead for a request after its own.
    /// Called holding the lock.
    private func startLeaderForSuspended() {
        guard !flushing, suspended.contains(where: { $0.request > completed }) else { return }
        flushing = true
        BlockingThreads.shared.submit { [self] in
            condition.lock()
            defer { condition.unlock() }
            repeat { lead() } while !flushing && suspended.contains(where: { $0.request > completed })
        }
    }

    /// One flush by the calling thread, holding the lock (released while `syncfs` runs); serves
    /// every request made before it started, blocked and suspended alike.
    private func lead() {
        flushing = true
        if lastBatchSize > 1 { gatherRequests() }
        let batch = requested
        lastBatchSize = batch - completed
        condition.unlock()
        let result = cspool_syncfs(descriptor)
        let code = errno
        condition.lock()
        flushes += 1
        if result != 0 {
            failures += 1
            lastFailure = code
        }
        completed = batch
        flushing = false
        condition.broadcast()
        let served = suspended.filter { $0.request <= batch }
        suspended.removeAll { $0.request <= batch }
        for waiter in served { waiter.continuation.resume() }
    }

    private func check(_ ticket: Ticket, for path: String) throws {
        if failures != ticket.failuresBefore {
            throw SpoolError.system("syncfs", path: path, errno: lastFailure)
        }
    }

    /// Lets the other busy writers join the coming flush: waits until no request came for
    /// `gatherQuiet`, at most `gatherLimit`. Called by the leader, holding the lock.
    private func gatherRequests() {
        let deadline = Date().addingTimeInterval(Self.gatherLimit)
        var seen = requested
        while Date() < deadline {
            _ = condition.wait(until: min(deadline, Date().addingTimeInterval(Self.gatherQuiet)))
            if requested == seen { return }
            seen = requested
        }
    }

    /// A flush for work that wrote nothing of its own before this call (renames, directories).
    public func wait(for path: String) throws { try wait(since: ticket(), for: path) }
}
