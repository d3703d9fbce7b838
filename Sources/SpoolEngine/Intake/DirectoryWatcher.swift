import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Watches directories with inotify and reports names renamed into them.
///
/// Only renames count: a file renamed in is complete. A file written in place may be caught
/// half-written after any of its writes, so it is left to the periodic scan, which gives it time
/// to settle (see `Intake.settleTime`).
///
/// Reads on its own thread (a blocking `poll`), so the cooperative pool never waits on it.
final class DirectoryWatcher: @unchecked Sendable {
    // @unchecked: `descriptors` is written once in init; `running` is guarded by `state`.
    enum Change: Sendable, Equatable {
        /// A name was renamed into the directory at `path`.
        case appeared(directory: String, name: String)
        /// The kernel's queue overflowed: events were lost, rescan everything.
        case overflow
    }

    private let fd: Int32
    private var descriptors: [Int32: String] = [:]
    private let state = LockedValue(true)

    init(directories: [String]) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw SpoolError.system("inotify_init1", path: directories.joined(separator: ", ")) }
        for directory in directories {
            let wd = inotify_add_watch(fd, directory, UInt32(IN_MOVED_TO))
            guard wd >= 0 else {
                close(fd)
                throw SpoolError.system("inotify_add_watch", path: directory)
            }
            descriptors[wd] = directory
        }
    }

    /// The changes, until `stop()`; start this before scanning so nothing falls between.
    func changes() -> AsyncStream<Change> {
        let (stream, continuation) = AsyncStream<Change>.makeStream(bufferingPolicy: .unbounded)
        let thread = Thread { [self] in
            readLoop(continuation)
            continuation.finish()
        }
        thread.name = "spool.inotify"
        thread.start()
        return stream
    }

    func stop() { state.withLock { $0 = false } }

    private func readLoop(_ continuation: AsyncStream<Change>.Continuation) {
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while state.withLock({ $0 }) {
            let ready = poll(&poller, 1, 200)
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { continue }
            var offset = 0
            // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; } — parsed by hand
            // because Swift does not import the flexible array member.
            while offset + 16 <= count {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw in
                    (
                        raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                        raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                        Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    )
                }
                let nameBytes = buffer[(offset + 16)..<min(offset + 16 + length, count)]
                offset += 16 + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    continuation.yield(.overflow)
                    continue
                }
                guard let directory = descriptors[wd], length > 0 else { continue }
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                if !name.isEmpty { continuation.yield(.appeared(directory: directory, name: name)) }
            }
        }
    }
}
