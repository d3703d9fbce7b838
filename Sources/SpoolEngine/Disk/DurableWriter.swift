import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one component through which the spool makes anything durable (write rules 1, 4 and 5).
///
/// A publish writes `.<name>.tmp-<unique>` beside the target, fsyncs it, renames it into place
/// and fsyncs the directory; only then does the call return. An fsync error fails the call and
/// is never retried (a failed fsync may have dropped the dirty pages). Blocking I/O runs on the
/// writer's own threads, so waiting on the disk never holds a thread of the cooperative pool.
public final class DurableWriter: Sendable {
    private let queue = DispatchQueue(label: "spool.durable-writer", attributes: .concurrent)
    /// Pauses the writer's mutations while `spool freeze` holds the spool.
    public let gate: FreezeGate?

    public init(gate: FreezeGate? = nil) { self.gate = gate }

    /// A writer for the spool at `layout`, paused while the spool is frozen.
    public convenience init(layout: SpoolLayout) { self.init(gate: FreezeGate(layout: layout)) }

    /// Atomically replaces (or creates) `path` with `data`, durably.
    public func publish(_ data: Data, at path: String) async throws {
        try await onWriterThread { try Self.publishNow(data, at: path) }
    }

    /// Publishes `path` as the concatenation of `sources`, streamed (never whole in memory).
    public func publish(concatenating sources: [String], at path: String) async throws {
        try await onWriterThread {
            try Self.publishNow(at: path) { fd, temp in
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                for source in sources {
                    let input = open(source, O_RDONLY | O_CLOEXEC)
                    guard input >= 0 else { throw SpoolError.system("open", path: source) }
                    defer { close(input) }
                    while true {
                        let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                        if count < 0 {
                            if errno == EINTR { continue }
                            throw SpoolError.system("read", path: source)
                        }
                        if count == 0 { break }
                        try buffer.withUnsafeBytes {
                            try Self.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[..<count]), path: temp)
                        }
                    }
                }
            }
        }
    }

    /// Renames `source` to `target` and flushes both directories. With `replace: false` an
    /// existing target is an error (`EEXIST`), so two movers never overwrite each other.
    public func move(_ source: String, to target: String, replace: Bool = false) async throws {
        try await onWriterThread {
            if replace { try Disk.rename(source, target) } else { try Disk.renameNoReplace(source, target) }
            let from = Disk.parent(of: source)
            let to = Disk.parent(of: target)
            try Disk.fsyncDirectory(to)
            if from != to { try Disk.fsyncDirectory(from) }
        }
    }

    /// Creates a directory (and records its entry durably in its parent).
    public func makeDirectory(_ path: String) async throws {
        try await onWriterThread {
            guard !Disk.isDirectory(path) else { return }
            try Disk.makeDirectory(path)
            try Disk.fsyncDirectory(Disk.parent(of: path))
        }
    }

    /// Appends one line to an append-only file (created if absent), then fdatasyncs it.
    public func append(line: Data, to path: String) async throws {
        try await onWriterThread {
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw SpoolError.system("open", path: path) }
            defer { close(fd) }
            var line = line
            if line.last != UInt8(ascii: "\n") { line.append(UInt8(ascii: "\n")) }
            try line.withUnsafeBytes { try Self.writeAll(fd, $0, path: path) }
            if fdatasync(fd) != 0 { throw SpoolError.system("fdatasync", path: path) }
        }
    }

    /// Runs a block of file work on the writer's threads (for callers that stage several files).
    /// With `gated: false` the block may run while frozen and must pass its own writes through
    /// `publishGated` (for long reads that write now and then, like chunking a large file).
    public func perform<T: Sendable>(gated: Bool = true, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        if gated { return try await onWriterThread(work) }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// `publishNow` behind the freeze gate, for code on a writer thread inside an ungated `perform`.
    public func publishGated(_ data: Data, at path: String) throws {
        try passGate { try Self.publishNow(data, at: path) }
    }

    /// The synchronous publish, for code already on a writer thread.
    public static func publishNow(_ data: Data, at path: String) throws {
        try publishNow(at: path) { fd, temp in
            try data.withUnsafeBytes { try writeAll(fd, $0, path: temp) }
        }
    }

    /// Publishes whatever `write` writes to the temp file's descriptor.
    static func publishNow(at path: String, write: (_ fd: Int32, _ temp: String) throws -> Void) throws {
        let directory = Disk.parent(of: path)
        let temp = directory + "/." + Disk.name(of: path) + ".tmp-" + Disk.uniqueSuffix()
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SpoolError.system("create", path: temp) }
        do {
            try write(fd, temp)
            if fsync(fd) != 0 { throw SpoolError.system("fsync", path: temp) }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        do {
            try Disk.rename(temp, path)
        } catch {
            unlink(temp)
            throw error
        }
        try Disk.fsyncDirectory(directory)
    }

    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SpoolError.system("write", path: path)
            }
            offset += n
        }
    }

    private func onWriterThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in continuation.resume(with: Result { try passGate(work) }) }
        }
    }

    private func passGate<T>(_ work: () throws -> T) throws -> T {
        guard let gate else { return try work() }
        return try gate.whileThawed(work)
    }
}
