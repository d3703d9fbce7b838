import CSQLite
import Dispatch
import Foundation
import SpoolEngine

/// A connection to one SQLite database file, shared by every thread of the process.
///
/// Opened in WAL mode with `synchronous=FULL` (a commit returns only once it is on disk),
/// foreign keys on, and a busy timeout, because several processes use the same file. All work
/// happens inside `read` or `transaction`, which hold the connection's lock for the closure.
///
/// `@unchecked Sendable` is sound: the sqlite3 handle and the statement cache are touched only
/// while `lock` is held. For the same reason the handle is opened `SQLITE_OPEN_NOMUTEX`.
public final class SQLiteConnection: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// How long a statement waits for another connection's lock before failing with `.busy`.
        public var busyTimeout: Duration
        /// How many prepared statements are kept for reuse, keyed by their SQL text.
        public var statementCacheCapacity: Int
        /// The most memory SQLite's page cache may use, in KiB. Bulk upserts into indexed tables run
        /// faster with a larger cache than SQLite's 2 MiB default; 16 MiB keeps a serving process,
        /// importing a million rows, well under 100 MB.
        public var pageCacheKiB: Int
        /// WAL pages written before SQLite checkpoints into the database file (SQLite's default is 1,000).
        public var walAutocheckpointPages: Int
        /// Write transactions wait while the spool is frozen (`spool freeze`, `spool backup`).
        public var freezeGate: FreezeGate?

        public init(
            busyTimeout: Duration = .seconds(10), statementCacheCapacity: Int = 64, pageCacheKiB: Int = 16_384,
            walAutocheckpointPages: Int = 4_000, freezeGate: FreezeGate? = nil
        ) {
            self.freezeGate = freezeGate
            self.busyTimeout = busyTimeout
            self.statementCacheCapacity = statementCacheCapacity
            self.pageCacheKiB = pageCacheKiB
            self.walAutocheckpointPages = walAutocheckpointPages
        }
    }

    /// The database file.
    public let path: String
    private let configuration: Configuration
    private let handle: OpaquePointer
    /// Recursive only so that a nested call fails with an error instead of deadlocking.
    private let lock = NSRecursiveLock()
    private var isInSession = false
    private var cache: [String: SQLiteStatement] = [:]
    /// Async callers wait here rather than blocking a thread of the cooperative pool on the lock.
    private let queue: DispatchQueue

    /// Before the process's first open: nothing reads SQLite's memory statistics, and keeping them
    /// takes a global mutex on every allocation.
    private static let memoryStatisticsOff: Void = { _ = csqlite_disable_memory_statistics() }()

    /// Opens (creating if needed) the database at `path` and applies the connection's pragmas.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        Self.memoryStatisticsOff
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            var reason = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            let systemError = handle.map { sqlite3_system_errno($0) } ?? 0
            if systemError != 0 { reason += ": " + String(cString: strerror(systemError)) }
            sqlite3_close_v2(handle)
            throw FolksbaseError(
                .database,
                "could not open the database \(path): \(reason) (check that its folder exists and is writable)",
                sqliteCode: code)
        }
        self.path = path
        self.configuration = configuration
        self.handle = handle
        self.queue = DispatchQueue(label: "folksbase.sqlite")
        sqlite3_extended_result_codes(handle, 1)
        let milliseconds =
            configuration.busyTimeout.components.seconds * 1000
            + configuration.busyTimeout.components.attoseconds / 1_000_000_000_000_000
        sqlite3_busy_timeout(handle, Int32(clamping: milliseconds))
        try configure()
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    private func configure() throws {
        let mode = try lockedSession(readOnly: false) { db in
            try db.fetchOne("PRAGMA journal_mode = WAL") { $0.string(at: 0) }
        }
        guard mode == "wal" || path == ":memory:" || path.isEmpty else {
            throw FolksbaseError(
                .database,
                "could not switch \(path) to WAL mode (it stayed \"\(mode ?? "?")\"); "
                    + "keep the database on a local file system")
        }
        try lockedSession(readOnly: false) { db in
            try db.executeScript(
                "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -\(configuration.pageCacheKiB); "
                    + "PRAGMA wal_autocheckpoint = \(configuration.walAutocheckpointPages);")
        }
    }

    // MARK: Access

    /// Runs `body` in a read transaction: it sees one consistent snapshot and may not write.
    public func read<T>(_ body: (Session) throws -> T) throws -> T {
        try lockedSession(readOnly: true) { db in try db.inTransaction("BEGIN DEFERRED") { try body(db) } }
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`): committed when it returns, rolled
    /// back when it throws. Not reentrant: a nested `read` or `transaction` throws.
    public func transaction<T>(_ body: (Session) throws -> T) throws -> T {
        guard let gate = configuration.freezeGate else {
            return try lockedSession(readOnly: false) { db in try db.inTransaction("BEGIN IMMEDIATE") { try body(db) } }
        }
        return try gate.whileThawed {
            try lockedSession(readOnly: false) { db in try db.inTransaction("BEGIN IMMEDIATE") { try body(db) } }
        }
    }

    /// Another connection to the same file, with the same configuration.
    public func sibling() throws -> SQLiteConnection { try SQLiteConnection(path: path, configuration: configuration) }

    /// `read`, for async callers: the blocking work runs on the connection's own thread.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Session) throws -> T) async throws -> T {
        try await onQueue { try self.read(body) }
    }

    /// `transaction`, for async callers: the blocking work runs on the connection's own thread.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (Session) throws -> T) async throws -> T {
        try await onQueue { try self.transaction(body) }
    }

    /// Copies the write-ahead log into the database file and truncates it (before a file backup).
    public func checkpoint() throws {
        try lockedSession(readOnly: false) { _ in
            let code = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, nil, nil)
            guard code == SQLITE_OK else {
                throw FolksbaseError.sqlite(code, database: handle, sql: "PRAGMA wal_checkpoint", doing: "run")
            }
        }
    }

    private func lockedSession<T>(readOnly: Bool, _ body: (Session) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard !isInSession else {
            throw FolksbaseError(
                .invalidInput,
                "read { } or transaction { } was called inside another on the same connection; "
                    + "pass the Session down instead")
        }
        isInSession = true
        defer { isInSession = false }
        return try body(Session(connection: self, readOnly: readOnly))
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// The connection while its lock is held: valid only inside the closure that received it.
    public struct Session {
        fileprivate let connection: SQLiteConnection
        fileprivate let readOnly: Bool

        /// A prepared statement for `sql`, reset and unbound; reused across calls with the same SQL.
        public func statement(_ sql: String) throws -> SQLiteStatement {
            let statement: SQLiteStatement
            if let cached = connection.cache[sql], sqlite3_stmt_busy(cached.handle) == 0 {
                cached.clearBindings()
                statement = cached
            } else if connection.cache[sql] == nil
                && connection.cache.count < connection.configuration.statementCacheCapacity
            {
                statement = try SQLiteStatement(database: connection.handle, sql: sql, persistent: true)
                connection.cache[sql] = statement
            } else {
                statement = try SQLiteStatement(database: connection.handle, sql: sql, persistent: false)
            }
            if readOnly && !statement.isReadOnly {
                throw FolksbaseError(
                    .invalidInput,
                    "\(FolksbaseError.firstWords(of: sql)) writes, but runs inside read { }; use transaction { }")
            }
            return statement
        }

        /// Runs one statement with `values` bound to its parameters, ignoring any rows.
        public func execute(_ sql: String, _ values: (any SQLiteBindable)?...) throws {
            let statement = try statement(sql)
            try statement.bind(values)
            try statement.run()
        }

        /// Runs one or more `;`-separated statements that take no parameters (DDL, pragmas).
        public func executeScript(_ sql: String) throws {
            var message: UnsafeMutablePointer<CChar>?
            let code = sqlite3_exec(connection.handle, sql, nil, nil, &message)
            sqlite3_free(message)
            guard code == SQLITE_OK else {
                throw FolksbaseError.sqlite(code, database: connection.handle, sql: sql, doing: "run")
            }
        }

        /// Every row of a query, each mapped by `row` (which reads the statement's columns).
        public func fetchAll<T>(
            _ sql: String, _ values: (any SQLiteBindable)?..., row: (SQLiteStatement) throws -> T
        ) throws -> [T] {
            let statement = try statement(sql)
            defer { statement.reset() }
            try statement.bind(values)
            var rows: [T] = []
            while try statement.step() { rows.append(try row(statement)) }
            return rows
        }

        /// The first row of a query, mapped by `row`, or nil when there is none.
        public func fetchOne<T>(
            _ sql: String, _ values: (any SQLiteBindable)?..., row: (SQLiteStatement) throws -> T
        ) throws -> T? {
            let statement = try statement(sql)
            defer { statement.reset() }
            try statement.bind(values)
            return try statement.step() ? try row(statement) : nil
        }

        /// Rows changed by the most recent INSERT, UPDATE or DELETE.
        public var changes: Int { Int(sqlite3_changes64(connection.handle)) }

        public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(connection.handle) }

        /// Runs `body` inside a savepoint of the open transaction: when it throws, its changes are
        /// undone and its error returned. Throws when the whole transaction is lost: SQLite ended it
        /// for the body's error (a full disk, an I/O error), which is thrown then, or the undo failed.
        public func inSavepoint<T>(_ body: () throws -> T) throws -> Result<T, Error> {
            try executeScript("SAVEPOINT shared")
            do {
                let value = try body()
                try executeScript("RELEASE shared")
                return .success(value)
            } catch {
                guard sqlite3_get_autocommit(connection.handle) == 0 else { throw error }
                try executeScript("ROLLBACK TO shared")
                try executeScript("RELEASE shared")
                return .failure(error)
            }
        }

        fileprivate func inTransaction<T>(_ begin: String, _ body: () throws -> T) throws -> T {
            try executeScript(begin)
            do {
                let result = try body()
                try executeScript("COMMIT")
                return result
            } catch {
                if sqlite3_get_autocommit(connection.handle) == 0 { try? executeScript("ROLLBACK") }
                throw error
            }
        }
    }
}

extension FolksbaseError {
    /// An error SQLite reported, with its message, the statement's first words and a hint.
    static func sqlite(_ code: Int32, database: OpaquePointer?, sql: String, doing: String) -> FolksbaseError {
        let reason = database.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        var message = "SQLite could not \(doing) \(firstWords(of: sql)): \(reason)"
        let kind: Code
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED:
            kind = .busy
            message += " (another connection held the database lock longer than the busy timeout; retry)"
        case SQLITE_CONSTRAINT:
            kind = .constraint
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            kind = .database
            message += " (the database file is damaged; restore it from a backup)"
        case SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM:
            kind = .database
            let systemError = database.map { sqlite3_system_errno($0) } ?? 0
            if systemError != 0 { message += ": " + String(cString: strerror(systemError)) }
            message += " (" + fileSystemHint(code: code, systemError: systemError) + ")"
        default:
            kind = .database
        }
        return FolksbaseError(kind, message, sqliteCode: code)
    }

    /// What to do about a file-system failure, from the system error where SQLite kept one
    /// (a full disk often reaches SQLite as a plain I/O error on its shared-memory file).
    static func fileSystemHint(code: Int32, systemError: Int32) -> String {
        switch systemError {
        case ENOSPC, EDQUOT: return "free space on the spool's file system, then retry"
        case EROFS: return "the file system is read-only; remount it read-write"
        case EACCES, EPERM: return "check the database file's owner and permissions"
        case EIO: return "the disk reported an I/O error; check the device"
        default:
            switch code & 0xff {
            case SQLITE_FULL: return "free space on the database's file system, then retry"
            case SQLITE_IOERR: return "the disk reported an I/O error; check the device"
            default: return "check the database file's owner and permissions"
            }
        }
    }

    /// Whether SQLite refused a row because a foreign key points nowhere.
    var isForeignKeyViolation: Bool {
        // SQLITE_CONSTRAINT_FOREIGNKEY, a macro Swift cannot import.
        sqliteCode == SQLITE_CONSTRAINT | (3 << 8)
    }

    /// The start of a statement, enough to recognise it in a message: `"INSERT INTO contacts (id, …"`.
    static func firstWords(of sql: String, limit: Int = 48) -> String {
        let words = sql.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let start = words.count > limit ? String(words.prefix(limit)) + "…" : words
        return "\"" + start + "\""
    }
}
