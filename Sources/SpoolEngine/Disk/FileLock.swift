#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive `flock` on a lock file, shared by every process that serves the spool: held until
/// `release` (or the process ends), whatever tasks run in between.
final class FileLock: Sendable {
    private let descriptor: LockedValue<Int32>

    private init(fd: Int32) { descriptor = LockedValue(fd) }

    /// Waits for the lock on `path` (the file is made if absent), blocking the calling thread.
    static func acquire(_ path: String) throws -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SpoolError.system("open", path: path) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let code = errno
                close(fd)
                throw SpoolError.system("flock", path: path, errno: code)
            }
        }
        return FileLock(fd: fd)
    }

    /// `acquire` for async code: the wait holds a writer thread, not one of the cooperative pool.
    static func acquireWaiting(_ path: String) async throws -> FileLock {
        try await BlockingThreads.shared.run { try acquire(path) }
    }

    /// Runs `body` holding the lock on `path`; the calling thread may block while it waits.
    static func holding<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let lock = try acquire(path)
        defer { lock.release() }
        return try body()
    }

    /// Releases the lock; releasing it again does nothing.
    func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }
}
