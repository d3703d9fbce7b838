import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Lets `spool freeze` pause every mutation of a spool, in every process, for as long as a snapshot takes.
///
/// A mutation holds a shared `flock` on `.freeze.lock` while it runs and starts only while
/// `.frozen` is absent. Freezing creates `.frozen`, then takes the lock exclusively, which returns
/// once every mutation in flight has finished; later ones wait until `.frozen` is gone.
public struct FreezeGate: Sendable {
    public let layout: SpoolLayout

    public init(layout: SpoolLayout) { self.layout = layout }

    var lockPath: String { layout.root + "/.freeze.lock" }
    var markerPath: String { layout.root + "/.frozen" }

    public var isFrozen: Bool { Disk.exists(markerPath) }

    /// Runs `body` while the spool is not frozen, waiting for a thaw if it is.
    public func whileThawed<T>(_ body: () throws -> T) throws -> T {
        while true {
            let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                // A spool whose lock file cannot be made cannot be frozen either: nothing to wait for.
                return try body()
            }
            defer { close(fd) }
            while flock(fd, LOCK_SH) != 0 && errno == EINTR {}
            if !isFrozen { return try body() }
            flock(fd, LOCK_UN)
            while isFrozen { usleep(20_000) }
        }
    }

    /// `whileThawed` for async work: a wait for a thaw suspends the task instead of blocking a thread.
    public func whileThawed<T>(_ body: () async throws -> T) async throws -> T {
        while true {
            let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return try await body() }
            defer { close(fd) }
            while flock(fd, LOCK_SH) != 0 && errno == EINTR {}
            if !isFrozen { return try await body() }
            flock(fd, LOCK_UN)
            while isFrozen { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Freezes the spool; returns once no mutation is in flight. Fails after `timeout`, thawed again.
    public func freeze(timeout: Duration = .seconds(60)) throws {
        try DurableWriter.publishNow(Data(UTCTime.iso8601(Date()).utf8), at: markerPath)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError.system("open", path: lockPath) }
        defer { close(fd) }
        let deadline = ContinuousClock.now + timeout
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard ContinuousClock.now < deadline else {
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
