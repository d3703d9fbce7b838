import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one component through which the spool makes anything durable (write rules 1, 4 and 5).
///
/// A publish writes `.<name>.tmp-<unique>` beside the target (or in `tmp/`, for an event sent into
/// `incoming/`), flushes it, renames it into place and flushes again; only then does the call
/// return. Flushes are shared: every writer waiting at the same moment is served by one `syncfs`
/// of the file system (`GroupFlush`), so concurrent runs pay for one flush instead of one per
/// file and directory. A flush error fails the call and is never retried. The small writes of a
/// publish, a replace, a move or an append go to the page cache from the calling task; waiting
/// for a flush suspends the task and holds no thread, since the flush runs on a writer thread of
/// its own. Work that streams large files runs on the writer's threads (`perform`,
/// `publish(concatenating:)`), never the cooperative pool's.
public final class DurableWriter: Sendable {
    /// Pauses the writer's mutations while `spool freeze` holds the spool.
    public let gate: FreezeGate?

    public init(gate: FreezeGate? = nil) { self.gate = gate }

    /// A writer for the spool at `layout`, paused while the spool is frozen.
    public convenience init(layout: SpoolLayout) { self.init(gate: FreezeGate(layout: layout)) }

    /// Atomically replaces (or creates) `path` with `data`, durably.
    ///
    /// With `staging`, the temp file is made in that folder (on the same file system) and renamed
    /// straight into place: for a folder whose watchers should see nothing but finished files.
    public func publish(
        _ data: some ContiguousBytes & Sendable, at path: String, stagingIn staging: String? = nil
    ) async throws {
        try await gated {
            let directory = Disk.parent(of: path)
            let flush = try GroupFlush.of(directory)
            let ticket = flush.ticket()
            let temp = try Self.writeTemp(for: path, in: staging ?? directory) { fd, temp in
                try data.withUnsafeBytes { try Disk.writeAll(fd, $0, path: temp) }
            }
            do {
                try await flush.flushed(since: ticket, for: temp)
                try Disk.rename(temp, path)
            } catch {
                unlink(temp)
                throw error
            }
            try await flush.flushed(since: ticket, for: path)
        }
    }

    /// Publishes `path` as the concatenation of `sources`, streamed (never whole in memory).
    public func publish(concatenating sources: [String], at path: String) async throws {
        try await onWriterThread {
            _ = try Self.publishNow(at: path) { fd, temp in
                for source in sources {
                    let input = open(source, O_RDONLY | O_CLOEXEC)
                    guard input >= 0 else { throw SpoolError.system("open", path: source) }
                    defer { close(input) }
                    try Disk.appendRest(of: input, source: source, to: fd, target: temp)
                }
            }
        }
    }

    /// Publishes a new version of a file rewritten again and again (a run's run.json), without
    /// creating or freeing a file each time: the data goes into `.<name>.spare`, which is flushed and
    /// then exchanged atomically with `path`, so the spare holds the previous version afterwards.
    /// Freed inodes are costly on file systems that skip recently freed ones when allocating. Only
    /// one writer at a time may replace a given file (a run's files belong to its lock holder).
    ///
    /// With `untilDurable: false` it returns once the new version is in place, before the flush
    /// that makes the exchange durable: for a version nothing waits on, which any later flush
    /// saves (the next replace flushes before its own exchange, so versions stay in order).
    public func replace(_ data: Data, at path: String, untilDurable: Bool = true) async throws {
        try await gated {
            let flush = try GroupFlush.of(Disk.parent(of: path))
            let ticket = flush.ticket()
            try await Self.replace(data, at: path, flush: flush, ticket: ticket, untilDurable: untilDurable)
        }
    }

    /// `replace`, then renames `source` to `target` (never replacing it; the target's folder is
    /// created if missing). Each step is flushed before the next, since a file system may save
    /// name changes out of order: the move never reaches the disk before the new version does.
    public func replace(_ data: Data, at path: String, thenMove source: String, to target: String) async throws {
        try await gated {
            let flush = try GroupFlush.of(Disk.parent(of: path))
            let ticket = flush.ticket()
            try Disk.makeDirectory(Disk.parent(of: target))
            try await Self.replace(data, at: path, flush: flush, ticket: ticket)
            try Disk.renameNoReplace(source, target)
            try await flush.flushed(since: ticket, for: target)
        }
    }

    /// Renames `source` to `target` and waits for a flush. With `replace: false` an
    /// existing target is an error (`EEXIST`), so two movers never overwrite each other.
    public func move(_ source: String, to target: String, replace: Bool = false) async throws {
        try await gated {
            let flush = try GroupFlush.of(Disk.parent(of: target))
            let ticket = flush.ticket()
            if replace { try Disk.rename(source, target) } else { try Disk.renameNoReplace(source, target) }
            try await flush.flushed(since: ticket, for: target)
        }
    }

    /// Creates a directory (and records its entry durably in its parent).
    public func makeDirectory(_ path: String) async throws {
        try await gated {
            guard !Disk.isDirectory(path) else { return }
            let flush = try GroupFlush.of(Disk.parent(of: path))
            let ticket = flush.ticket()
            try Disk.makeDirectory(path)
            try await flush.flushed(since: ticket, for: path)
        }
    }

    /// Appends one line to an append-only file (created if absent) without waiting for a flush:
    /// the line is on disk once any later publish, move or directory on the file system is.
    public func append(line: Data, to path: String) async throws {
        try await gated {
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw SpoolError.system("open", path: path) }
            defer { close(fd) }
            var line = line
            if line.last != UInt8(ascii: "\n") { line.append(UInt8(ascii: "\n")) }
            try line.withUnsafeBytes { try Disk.writeAll(fd, $0, path: path) }
        }
    }

    /// Runs a block of file work on the writer's threads (for callers that stage several files).
    /// With `gated: false` the block may run while frozen and must pass its own writes through
    /// `publishGated` (for long reads that write now and then, like chunking a large file).
    public func perform<T: Sendable>(gated: Bool = true, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        if gated { return try await onWriterThread(work) }
        return try await BlockingThreads.shared.run(work)
    }

    /// `publishNow` behind the freeze gate, for code on a writer thread inside an ungated `perform`.
    public func publishGated(_ data: Data, at path: String) throws {
        try passGate { _ = try Self.publishNow(data, at: path) }
    }

    /// `publishNow` of several files behind the freeze gate.
    public func publishGated(_ files: [(data: Data, path: String)]) throws {
        try passGate { try Self.publishNow(files) }
    }

    /// Publishes several files on one file system with two flushes in all: every temp file is
    /// written, one flush makes them durable, each is renamed into place, one flush makes the
    /// renames durable. A failure unlinks the temp files not yet renamed; those renamed stay.
    public static func publishNow(_ files: [(data: Data, path: String)]) throws {
        guard let first = files.first else { return }
        let flush = try GroupFlush.of(Disk.parent(of: first.path))
        let ticket = flush.ticket()
        var temps: [String] = []
        var renamed = 0
        defer { for temp in temps[renamed...] { unlink(temp) } }
        for file in files {
            temps.append(
                try writeTemp(for: file.path) { fd, temp in
                    try file.data.withUnsafeBytes { try Disk.writeAll(fd, $0, path: temp) }
                })
        }
        try flush.wait(since: ticket, for: temps[0])
        for (temp, file) in zip(temps, files) {
            try Disk.rename(temp, file.path)
            renamed += 1
        }
        try flush.wait(since: ticket, for: Disk.parent(of: first.path))
    }

    /// The synchronous publish, for code already on a writer thread. With `replacing` false, a file
    /// already at `path` stays and the publish returns false.
    @discardableResult
    public static func publishNow(_ data: Data, at path: String, replacing: Bool = true) throws -> Bool {
        try publishNow(at: path, replacing: replacing) { fd, temp in
            try data.withUnsafeBytes { try Disk.writeAll(fd, $0, path: temp) }
        }
    }

    /// The spare file `replace` writes before exchanging it with `path`.
    public static func spare(of path: String) -> String {
        Disk.parent(of: path) + "/." + Disk.name(of: path) + ".spare"
    }

    /// Writes `data` into the spare of `path`, then exchanges the two, each step flushed.
    private static func replace(
        _ data: Data, at path: String, flush: GroupFlush, ticket: GroupFlush.Ticket, untilDurable: Bool = true
    ) async throws {
        let spare = spare(of: path)
        let fd = open(spare, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SpoolError.system("open", path: spare) }
        do {
            try Disk.overwrite(fd, with: data, path: spare)
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        try await flush.flushed(since: ticket, for: spare)
        try Disk.exchange(spare, path)
        if untilDurable { try await flush.flushed(since: ticket, for: path) }
    }

    /// Publishes whatever `write` writes to the temp file's descriptor; false when `replacing` is
    /// false and `path` exists.
    @discardableResult
    static func publishNow(
        at path: String, replacing: Bool = true, write: (_ fd: Int32, _ temp: String) throws -> Void
    ) throws -> Bool {
        let flush = try GroupFlush.of(Disk.parent(of: path))
        let ticket = flush.ticket()
        let temp = try writeTemp(for: path, write)
        do {
            try flush.wait(since: ticket, for: temp)
            if replacing { try Disk.rename(temp, path) } else { try Disk.renameNoReplace(temp, path) }
        } catch let error as SpoolError where !replacing && error.errno == EEXIST {
            unlink(temp)
            return false
        } catch {
            unlink(temp)
            throw error
        }
        try flush.wait(since: ticket, for: path)
        return true
    }

    /// Creates `.<name>.tmp-<unique>` in `directory` (beside `path` unless given) and fills it with
    /// `write`; returns its path. The file is removed again if writing fails.
    private static func writeTemp(
        for path: String, in directory: String? = nil, _ write: (_ fd: Int32, _ temp: String) throws -> Void
    ) throws -> String {
        let temp = (directory ?? Disk.parent(of: path)) + "/." + Disk.name(of: path) + ".tmp-" + Disk.uniqueSuffix()
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SpoolError.system("create", path: temp) }
        do {
            try write(fd, temp)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        return temp
    }

    private func onWriterThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await BlockingThreads.shared.run { [self] in try passGate(work) }
    }

    private func passGate<T>(_ work: () throws -> T) throws -> T {
        guard let gate else { return try work() }
        return try gate.whileThawed(work)
    }

    /// Runs `work` from the calling task behind the freeze gate, for work that writes several
    /// files and waits for flushes (`GroupFlush.flushed`) itself. Nothing inside may pass the gate again.
    func gated<T>(_ work: () async throws -> T) async throws -> T {
        guard let gate else { return try await work() }
        return try await gate.whileThawedSuspending(work)
    }
}
