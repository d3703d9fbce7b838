#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive `flock` on a run's directory: held while a process executes the run, released by
/// the kernel if the process dies. The directory itself is locked (no lock file), so a run costs
/// one file fewer to create, and the lock moves with the run.
public final class RunLock: Sendable {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// The lock, or nil when another process holds it or the run directory is gone.
    public static func tryAcquire(runDirectory: String) throws -> RunLock? {
        let path = runDirectory
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SpoolError.system("open", path: path)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw SpoolError.system("flock", path: path, errno: code)
        }
        // The directory may have moved between open and flock; only the lock of the run at `path` counts.
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
