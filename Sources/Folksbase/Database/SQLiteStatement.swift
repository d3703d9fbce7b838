import CSQLite
import Foundation

/// A value that can be bound to a statement parameter.
public protocol SQLiteBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) throws
}

/// A prepared statement: bind parameters (from 1), step, read columns (from 0).
///
/// Not `Sendable`: use it only inside the `SQLiteConnection` closure that handed it out, where
/// the connection's lock is held. Reusing one statement for many rows (`bind`, then `run()`)
/// is the fast path for bulk writes.
public final class SQLiteStatement {
    /// The SQL text, as prepared.
    public let sql: String
    let handle: OpaquePointer
    private let database: OpaquePointer

    init(database: OpaquePointer, sql: String, persistent: Bool) throws {
        var handle: OpaquePointer?
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let code = sqlite3_prepare_v3(database, sql, -1, flags, &handle, nil)
        guard code == SQLITE_OK else {
            sqlite3_finalize(handle)
            throw FolksbaseError.sqlite(code, database: database, sql: sql, doing: "prepare")
        }
        guard let handle else {
            throw FolksbaseError(.invalidInput, "SQL has no statement in it: \(FolksbaseError.firstWords(of: sql))")
        }
        self.sql = sql
        self.handle = handle
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    /// Whether the statement leaves the database unchanged.
    public var isReadOnly: Bool { sqlite3_stmt_readonly(handle) != 0 }

    /// The number of columns in each result row.
    public var columnCount: Int32 { sqlite3_column_count(handle) }

    // MARK: Binding

    public func bind(_ value: Int64, at index: Int32) throws {
        try check(sqlite3_bind_int64(handle, index, value), "bind parameter \(index) of")
    }

    public func bind(_ value: Double, at index: Int32) throws {
        try check(sqlite3_bind_double(handle, index, value), "bind parameter \(index) of")
    }

    public func bind(_ value: String, at index: Int32) throws {
        var value = value
        let code = value.withUTF8 { bytes in
            // A nil pointer would bind NULL, so the empty string gets a real (empty) one.
            guard let base = bytes.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, nil) }
            return sqlite3_bind_text(handle, index, base, Int32(bytes.count), csqlite_transient())
        }
        try check(code, "bind parameter \(index) of")
    }

    public func bind(_ value: Data, at index: Int32) throws {
        let code = value.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return sqlite3_bind_zeroblob(handle, index, 0) }
            return sqlite3_bind_blob(handle, index, base, Int32(bytes.count), csqlite_transient())
        }
        try check(code, "bind parameter \(index) of")
    }

    public func bindNull(at index: Int32) throws {
        try check(sqlite3_bind_null(handle, index), "bind parameter \(index) of")
    }

    /// Binds any bindable value, or NULL for `nil`.
    public func bind(_ value: (any SQLiteBindable)?, at index: Int32) throws {
        if let value { try value.bind(to: self, at: index) } else { try bindNull(at: index) }
    }

    /// Binds `values` to parameters 1, 2, … in order.
    public func bind(_ values: [(any SQLiteBindable)?]) throws {
        for (offset, value) in values.enumerated() { try bind(value, at: Int32(offset + 1)) }
    }

    // MARK: Stepping

    /// Advances to the next row; `false` once there are no more.
    public func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw FolksbaseError.sqlite(code, database: database, sql: sql, doing: "run")
        }
    }

    /// Runs a statement that returns no rows, then resets it for the next bind.
    public func run() throws {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    /// Rewinds the statement so it can run again; bindings are kept.
    public func reset() {
        // A failed step already reported its error; reset repeats it, so the result is ignored.
        sqlite3_reset(handle)
    }

    func clearBindings() { sqlite3_clear_bindings(handle) }

    // MARK: Reading the current row

    public func isNull(at column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    /// The column as an integer; NULL reads as 0.
    public func int64(at column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    /// The column as a float; NULL reads as 0.
    public func double(at column: Int32) -> Double { sqlite3_column_double(handle, column) }

    /// The column as text; NULL reads as "".
    public func string(at column: Int32) -> String {
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// Appends the column's text as UTF-8 bytes; NULL appends nothing.
    public func appendText(at column: Int32, to bytes: inout [UInt8]) {
        guard let text = sqlite3_column_text(handle, column) else { return }
        bytes.append(contentsOf: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, column))))
    }

    /// The column as bytes; NULL reads as empty.
    public func data(at column: Int32) -> Data {
        guard let bytes = sqlite3_column_blob(handle, column) else { return Data() }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(handle, column)))
    }

    public func optionalInt64(at column: Int32) -> Int64? { isNull(at: column) ? nil : int64(at: column) }

    public func optionalString(at column: Int32) -> String? { isNull(at: column) ? nil : string(at: column) }

    private func check(_ code: Int32, _ doing: @autoclosure () -> String) throws {
        guard code == SQLITE_OK else {
            throw FolksbaseError.sqlite(code, database: database, sql: sql, doing: doing())
        }
    }
}

extension Int64: SQLiteBindable {
    public func bind(to statement: SQLiteStatement, at index: Int32) throws { try statement.bind(self, at: index) }
}

extension Int: SQLiteBindable {
    public func bind(to statement: SQLiteStatement, at index: Int32) throws {
        try statement.bind(Int64(self), at: index)
    }
}

extension Bool: SQLiteBindable {
    public func bind(to statement: SQLiteStatement, at index: Int32) throws {
        try statement.bind(Int64(self ? 1 : 0), at: index)
    }
}

extension Double: SQLiteBindable {
    public func bind(to statement: SQLiteStatement, at index: Int32) throws { try statement.bind(self, at: index) }
}

extension String: SQLiteBindable {
    public func bind(to statement: SQLiteStatement, at index: Int32) throws { try statement.bind(self, at: index) }
}

extension Data: SQLiteBindable {
    public func bind(to statement: SQLiteStatement, at index: Int32) throws { try statement.bind(self, at: index) }
}

extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    public func bind(to statement: SQLiteStatement, at index: Int32) throws {
        if let self { try self.bind(to: statement, at: index) } else { try statement.bindNull(at: index) }
    }
}
