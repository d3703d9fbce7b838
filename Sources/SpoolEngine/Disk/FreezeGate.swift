import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Lets `spool freeze` pause every mutation of a spool, in every process, for as long as a snapshot takes.
///
/// A mutation holds a shared `flock` on `.freeze.lock` while it runs and starts only while
/// `.frozen` is absent. Freezing creates `.frozen`, then takes the lock exclusively, which returns
/// once every mutation in flight has finished; later ones wait until `.frozen` is gone. The
/// mutations in flight in one process share one descriptor and one shared lock, taken by the
/// first and released by the last (`SharedLock`).
public struct FreezeGate: Sendable {
    public let layout: SpoolLayout

    public init(layout: SpoolLayout) { self.layout = layout }

    var lockPath: String { layout.root + "/.freeze.lock" }
    var markerPath: String { layout.root + "/.frozen" }

    public var isFrozen: Bool { Disk.exists(markerPath) }

    /// Runs `body` while the spool is not frozen, waiting for a thaw if it is.
    public func whileThawed<T>(_ body: () throws -> T) throws -> T {
        let lock = SharedLock.of(lockPath)
        while true {
            // A spool whose lock file cannot be made cannot be frozen either: nothing to wait for.
            guard lock.enter() else { return try body() }
            if !isFrozen {
                defer { lock.leave() }
                return try body()
            }
            lock.leave()
            while isFrozen { usleep(20_000) }
        }
    }

    /// `whileThawed` for async work: a wait for a thaw suspends the task instead of blocking a thread.
    public func whileThawedSuspending<T>(_ body: () async throws -> T) async throws -> T {
        let lock = SharedLock.of(lockPath)
        while true {
            guard lock.enter() else { return try await body() }
            if !isFrozen {
                defer { lock.leave() }
                return try await body()
            }
            lock.leave()
            while isFrozen { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Freezes the spool; returns once no mutation is in flight. Fails after `timeout`, thawed again
    /// unless it was frozen already.
    public func freeze(timeout: Duration = .seconds(60)) throws {
        let frozenAlready = isFrozen
        try DurableWriter.publishNow(Data(UTCTime.iso8601(Date()).utf8), at: markerPath)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError.system("open", path: lockPath) }
        defer { close(fd) }
        let deadline = ContinuousClock.now + timeout
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard ContinuousClock.now < deadline else {
                if frozenAlready {
                    throw SpoolError(.busy, "\(layout.root): a mutation did not finish within \(timeout); still frozen")
                }
                try? thaw()
                throw SpoolError(.busy, "\(layout.root): a mutation did not finish within \(timeout); not frozen")
            }
            usleep(5_000)
        }
        flock(fd, LOCK_UN)
    }

    public func thaw() throws {
        try Disk.removeFile(markerPath)
        try Disk.fsyncDirectory(layout.root)
    }
}

/// The shared `flock` one process holds on a freeze lock file while any of its mutations runs:
/// the first to enter opens the file and locks it, the last to leave closes it (which unlocks).
/// The file is opened afresh each time, so a spool folder made again under the same path is
/// locked in its new file.
final class SharedLock: @unchecked Sendable {
    // @unchecked: `descriptor` and `holders` are guarded by `mutex`.
    private let path: String
    private let mutex = NSLock()
    private var descriptor: Int32 = -1
    private var holders = 0

    private init(path: String) { self.path = path }

    private static let byPath = LockedValue<[String: SharedLock]>([:])

    static func of(_ path: String) -> SharedLock {
        byPath.withLock { locks in
            if let known = locks[path] { return known }
            let lock = SharedLock(path: path)
            locks[path] = lock
            return lock
        }
    }

    /// Joins the holders; false (holding nothing) when the file cannot be opened.
    func enter() -> Bool {
        mutex.lock()
        defer { mutex.unlock() }
        if holders == 0 {
            descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return false }
            while flock(descriptor, LOCK_SH) != 0 && errno == EINTR {}
        }
        holders += 1
        return true
    }

    func leave() {
        mutex.lock()
        defer { mutex.unlock() }
        holders -= 1
        if holders == 0 {
            close(descriptor)
            descriptor = -1
        }
    }
}
