import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A consistent copy of a live spool, pausing it only while a hard-link snapshot is taken.
///
/// Most spool files are never changed once published (they are replaced by rename), so the
/// snapshot links them; files changed in place are copied: logs, SQLite databases and their WAL,
/// and the files whose inodes are written again as spares (run.json, claims). The snapshot is then
/// copied to the destination with the spool running again.
public struct SpoolBackup: Sendable {
    public struct Report: Sendable {
        public var frozenFor: Duration
        public var files: Int
        public var bytes: Int64
    }

    public let layout: SpoolLayout

    public init(layout: SpoolLayout) { self.layout = layout }

    public func backup(to destination: String, freezeTimeout: Duration = .seconds(60)) throws -> Report {
        try backup(to: destination, freezeTimeout: freezeTimeout, whileThawed: {})
    }

    /// `whileThawed` runs between the thaw and the copy out of the snapshot.
    func backup(to destination: String, freezeTimeout: Duration, whileThawed: () throws -> Void) throws -> Report {
        let target = destination.hasSuffix("/") && destination.count > 1 ? String(destination.dropLast()) : destination
        if Disk.isDirectory(target), !(try Disk.list(target)).isEmpty {
            throw SpoolError(.conflict, "\(target) is not empty; back up into a new or empty directory")
        }
        let root = URL(fileURLWithPath: layout.root).standardizedFileURL.path
        let absoluteTarget = URL(fileURLWithPath: target).standardizedFileURL.path
        guard !(absoluteTarget + "/").hasPrefix(root + "/") else {
            throw SpoolError(.invalidInput, "\(target) is inside the spool; back up somewhere else")
        }
        let snapshot = layout.root + "/.backup-" + Disk.uniqueSuffix()
        let gate = FreezeGate(layout: layout)
        guard !gate.isFrozen else {
            throw SpoolError(
                .conflict,
                "\(layout.root) is frozen (`spool freeze`), and a backup would thaw it under your own copy; "
                    + "finish that copy and run `spool thaw`, then back up")
        }
        try gate.freeze(timeout: freezeTimeout)
        let started = ContinuousClock.now
        do {
            try Disk.makeDirectory(snapshot)
            try snapshotTree(from: layout.root, to: snapshot)
        } catch {
            try? gate.thaw()
            try? Disk.removeTree(snapshot)
            throw error
        }
        try gate.thaw()
        let frozenFor = ContinuousClock.now - started
        defer { try? Disk.removeTree(snapshot) }
        try whileThawed()
        var report = Report(frozenFor: frozenFor, files: 0, bytes: 0)
        try Disk.makeDirectories(target)
        try copyTree(from: snapshot, to: target, report: &report)
        try Disk.fsyncDirectory(Disk.parent(of: target))
        return report
    }

    /// Names never part of a backup: the freeze files, temp files, spares, locks, staging, other snapshots.
    static func isTransient(_ name: String) -> Bool {
        name == ".frozen" || (name.hasPrefix(".") && (name.hasSuffix(".lock") || name.hasSuffix(".spare")))
            || name.hasPrefix(".backup-") || name.hasPrefix(".stage-") || name.contains(".tmp-")
    }

    /// Files written in place: copied into the snapshot, not linked. `DurableWriter.replace` writes
    /// run.json's next version into the inode of its version before last (its spare), and a claim's
    /// inode becomes its first run's spare.
    static func isChangedInPlace(_ name: String) -> Bool {
        name.hasSuffix(".jsonl") || name.hasSuffix(".sqlite") || name.hasSuffix(".sqlite-wal") || name.hasSuffix(".db")
            || name.hasSuffix(".db-wal") || name == RunFiles.record || name.hasPrefix(ClaimName.prefix)
    }

    /// Links published files and copies those changed in place, leaving out transient names.
    private func snapshotTree(from source: String, to target: String) throws {
        try Self.walk(from: source, to: target, snapshot: true) { from, to, info in
            if Self.isChangedInPlace(Disk.name(of: from)) {
                try Self.copyFile(from, to, mode: info.st_mode & 0o7777, sync: false)
            } else if link(from, to) != 0 {
                throw SpoolError.system("link", path: "\(from) -> \(to)")
            }
        }
    }

    /// Copies every file, flushed, and counts them.
    private func copyTree(from source: String, to target: String, report: inout Report) throws {
        var files = 0
        var bytes: Int64 = 0
        try Self.walk(from: source, to: target, snapshot: false) { from, to, info in
            try Self.copyFile(from, to, mode: info.st_mode & 0o7777, sync: true)
            files += 1
            bytes += Int64(info.st_size)
        }
        report.files += files
        report.bytes += bytes
    }

    /// Recreates `source`'s directories and symlinks under `target`, handing each regular file to `file`.
    /// A snapshot leaves out transient names and does not fsync (it is taken while frozen and need
    /// not survive a crash); the copy out of it keeps everything and fsyncs each directory.
    private static func walk(
        from source: String, to target: String, snapshot: Bool,
        file: (_ from: String, _ to: String, _ info: stat) throws -> Void
    ) throws {
        for name in try Disk.list(source) where !snapshot || (!isTransient(name) && !name.hasSuffix("-shm")) {
            let from = source + "/" + name
            let to = target + "/" + name
            var info = stat()
            guard lstat(from, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                try Disk.makeDirectory(to, mode: info.st_mode & 0o7777)
                try walk(from: from, to: to, snapshot: snapshot, file: file)
            case S_IFREG:
                try file(from, to, info)
            case S_IFLNK:
                try copySymlink(from, to)
            default:
                continue
            }
        }
        if !snapshot { try Disk.fsyncDirectory(target) }
    }

    private static func copyFile(_ from: String, _ to: String, mode: mode_t, sync: Bool) throws {
        let input = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw SpoolError.system("open", path: from) }
        defer { close(input) }
        let output = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard output >= 0 else { throw SpoolError.system("create", path: to) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw SpoolError.system("read", path: from) }
            if count == 0 { break }
            var written = 0
            while written < count {
                let n = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                guard n > 0 else { throw SpoolError.system("write", path: to) }
                written += n
            }
        }
        if sync && fsync(output) != 0 { throw SpoolError.system("fsync", path: to) }
    }

    private static func copySymlink(_ from: String, _ to: String) throws {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(from, &buffer, buffer.count - 1)
        guard count >= 0 else { throw SpoolError.system("readlink", path: from) }
        if symlink(buffer, to) != 0 { throw SpoolError.system("symlink", path: to) }
    }
}
