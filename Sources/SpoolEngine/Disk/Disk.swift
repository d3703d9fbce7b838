import CSpoolSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin, throwing wrappers over the POSIX calls the spool needs; every error names the path.
public enum Disk {
    public static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws {
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SpoolError.system("mkdir", path: path) }
    }

    /// Creates a directory and any missing parents (`mkdir -p`); one that exists must be writable.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws {
        if isDirectory(path) { return try requireWritable(path) }
        let parent = parent(of: path)
        if parent != path && parent != "." && parent != "/" { try makeDirectories(parent, mode: mode) }
        try makeDirectory(path, mode: mode)
    }

    /// Throws unless this process may create files in `directory`, so a read-only mount or a
    /// folder owned by another user is reported once, up front, rather than by every write.
    public static func requireWritable(_ directory: String) throws {
        if faccessat(AT_FDCWD, directory, W_OK | X_OK, AT_EACCESS) != 0 {
            throw SpoolError.system("cannot write in", path: directory)
        }
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory, without `.` and `..`; an absent directory lists as empty.
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw SpoolError.system("opendir", path: path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(cString: entryName(entry))
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The name in a directory entry `readdir` returned, read in place up to its NUL. The entry is
    /// only as long as its name: copying the whole `d_name` array (`entry.pointee.d_name`) can read
    /// past the end of the buffer `readdir` filled, and crash when that ends a page.
    public static func entryName(_ entry: UnsafeMutablePointer<dirent>) -> UnsafePointer<CChar> {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return UnsafeRawPointer(entry).advanced(by: offset).assumingMemoryBound(to: CChar.self)
    }

    /// Names that are work: everything not starting with a dot (temp files, rsync's, editors').
    public static func listVisible(_ path: String) throws -> [String] {
        try list(path).filter { !$0.hasPrefix(".") }
    }

    /// Reads a whole regular file; refuses anything else (FIFOs, devices) so a reader never blocks.
    public static func read(_ path: String, limit: Int = 64 << 20) throws -> Data {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw SpoolError.system("open", path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SpoolError.system("fstat", path: path) }
        return try read(fd, path: path, info: info, limit: limit)
    }

    /// Reads the whole file open as `fd`, whose `fstat` is `info`; `path` names it in errors.
    public static func read(_ fd: Int32, path: String, info: stat, limit: Int = 64 << 20) throws -> Data {
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SpoolError(.invalidInput, "\(path) is not a regular file")
        }
        guard Int(info.st_size) <= limit else {
            throw SpoolError(.invalidInput, "\(path) is \(info.st_size) bytes, over the limit of \(limit)")
        }
        var data = Data(count: Int(info.st_size))
        var total = 0
        while true {
            if total == data.count { data.count += 4096 }
            let n = data.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + total, buffer.count - total)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw SpoolError.system("read", path: path)
            }
            if n == 0 { break }
            total += n
            if total > limit { throw SpoolError(.invalidInput, "\(path) grew over the limit of \(limit) bytes") }
        }
        data.count = total
        return data
    }

    /// Creates `path` (which must not exist) holding `data`, without any flush: for files in a
    /// private staging area that a flush and a rename publish later.
    public static func createFile(_ path: String, contents data: Data) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SpoolError.system("create", path: path) }
        defer { close(fd) }
        try data.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    /// Writes the whole buffer, however many calls it takes.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw SpoolError.system("write", path: path)
            }
            offset += written
        }
    }

    /// Makes the file open as `fd` hold exactly `data`: written over the old contents, then cut to
    /// length. Unlike `O_TRUNC` this frees no block for a file that does not shrink past one, and
    /// a freed block costs a discard on file systems mounted with `discard`, and a forced
    /// allocation at close on ext4.
    public static func overwrite(_ fd: Int32, with data: Data, path: String) throws {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SpoolError.system("fstat", path: path) }
        try data.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        if Int(info.st_size) > data.count, ftruncate(fd, off_t(data.count)) != 0 {
            throw SpoolError.system("ftruncate", path: path)
        }
    }

    /// Appends the rest of `input` to `output`, copied inside the kernel (`copy_file_range`), or
    /// through a buffer where the two file systems cannot do that.
    public static func appendRest(
        of input: Int32, source: String, to output: Int32, target: String
    ) throws {
        while true {
            let copied = cspool_copy_file_range(input, output, 1 << 30)
            if copied > 0 { continue }
            if copied == 0 { return }
            switch errno {
            case EINTR: continue
            case EXDEV, EINVAL, ENOSYS, EOPNOTSUPP:
                return try appendRestThroughBuffer(of: input, source, output, target)
            case EIO, ENOSPC, EDQUOT, EFBIG: throw SpoolError.system("write", path: target)
            default: throw SpoolError.system("copy_file_range", path: "\(source) -> \(target)")
            }
        }
    }

    private static func appendRestThroughBuffer(of input: Int32, _ source: String, _ output: Int32, _ target: String)
        throws
    {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SpoolError.system("read", path: source)
            }
            if count == 0 { return }
            try buffer.withUnsafeBytes {
                try writeAll(output, UnsafeRawBufferPointer(rebasing: $0[..<count]), path: target)
            }
        }
    }

    /// Renames without any flush; callers that need durability go through `DurableWriter`.
    public static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw SpoolError.system("rename", path: "\(from) -> \(to)") }
    }

    /// Renames only if `to` does not exist yet (`renameat2(RENAME_NOREPLACE)`).
    public static func renameNoReplace(_ from: String, _ to: String) throws {
        if cspool_rename_noreplace(from, to) != 0 { throw SpoolError.system("rename", path: "\(from) -> \(to)") }
    }

    /// Swaps the files at `first` and `second` atomically (`renameat2(RENAME_EXCHANGE)`); when
    /// `second` does not exist yet, `first` is simply renamed to it.
    public static func exchange(_ first: String, _ second: String) throws {
        if cspool_rename_exchange(first, second) == 0 { return }
        guard errno == ENOENT, exists(first) else {
            throw SpoolError.system("rename (exchange)", path: "\(first) <-> \(second)")
        }
        try rename(first, second)
    }

    public static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SpoolError.system("open", path: path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw SpoolError.system("fsync", path: path) }
    }

    public static func removeFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw SpoolError.system("unlink", path: path) }
    }

    /// Removes a directory tree (used for retention pruning and undoing our own staging).
    public static func removeTree(_ path: String) throws {
        if isDirectory(path) {
            for name in try list(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw SpoolError.system("rmdir", path: path) }
        } else {
            try removeFile(path)
        }
    }

    /// Modification time, or nil when the file is gone.
    public static func modificationDate(_ path: String) -> Date? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// A name no other process or host will produce: pid, a counter and random bits drawn once per
    /// process (a later process with the same pid counts from 1 again, with other bits).
    public static func uniqueSuffix() -> String {
        "\(processID)-\(UniqueCounter.next())-\(processBits)"
    }

    private static let processID = getpid()
    private static let processBits = String(UInt32.random(in: 0...UInt32.max), radix: 36)
}

private enum UniqueCounter {
    private static let value = LockedValue<UInt64>(0)
    static func next() -> UInt64 {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}
