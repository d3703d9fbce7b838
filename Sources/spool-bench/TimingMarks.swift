#if canImport(Glibc)
    import Glibc
#endif

/// Appends `<tag> <event> <CLOCK_MONOTONIC ns>` lines, one write each, to a file the driver reads.
final class TimingMarks: Sendable {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    func append(_ tag: String, _ event: Int) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let line = "\(tag) \(event) \(Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec))\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
    }

    deinit { close(fd) }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
