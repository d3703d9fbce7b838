#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive `flock` on a run's `.lock` file: held while a process executes the run,
/// released by the kernel if the process dies.
public final class RunLock: Sendable {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// The lock, or nil when another process holds it or the run directory is gone.
    public static func tryAcquire(runDirectory: String) throws -> RunLock? {
        let path = runDirectory + "/.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw SpoolError.system("open", path: path)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw SpoolError.system("flock", path: path, errno: code)
        }
        // The directory may have moved between open and flock; only the lock at `path` counts.
        var held = stat()
        var current = stat()
        guard fstat(fd, &held) == 0, stat(path, &current) == 0, held.st_ino == current.st_ino,
            held.st_dev == current.st_dev
        else {
            close(fd)
            return nil
        }
        return RunLock(fd: fd)
    }

    deinit { close(fd) }
}
