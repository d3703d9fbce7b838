import SpoolEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes CSV lines (RFC 4180 quoting, LF line ends) into a file through its own buffer.
///
/// A field is quoted when it holds `,` `"` CR or LF, starts or ends with a space or tab, or
/// starts with a byte order mark; quotes inside are doubled. A line holding one empty field is
/// written `""` so it does not read back as a blank line. `CSVReader` reads every line back
/// into the same fields. The writer does not fsync: the caller makes the file durable.
public final class CSVWriter {
    private let path: String
    private let descriptor: Int32
    private let closesDescriptor: Bool
    private var buffer: [UInt8] = []
    private let bufferSize: Int
    private var isClosed = false

    /// Creates (or truncates) the file at `path`.
    public init(path: String, bufferSize: Int = 64 * 1024) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.systemError("open", path) }
        self.path = path
        self.descriptor = descriptor
        self.closesDescriptor = true
        self.bufferSize = bufferSize
        buffer.reserveCapacity(bufferSize)
    }

    /// Writes to an open descriptor (standard output, say), which `close()` leaves open.
    public init(fileDescriptor: Int32, bufferSize: Int = 64 * 1024) {
        self.path = "file descriptor \(fileDescriptor)"
        self.descriptor = fileDescriptor
        self.closesDescriptor = false
        self.bufferSize = bufferSize
        buffer.reserveCapacity(bufferSize)
    }

    /// Closes the descriptor if the writer opened it; bytes not flushed are lost, so call `close()`.
    deinit {
        if closesDescriptor && !isClosed { closeDescriptor(descriptor) }
    }

    /// Writes one line of `fields`; with `neutralizingFormulas`, cells are passed through `neutralize`.
    public func write(_ fields: [String], neutralizingFormulas: Bool = false) throws {
        Self.appendLine(fields, neutralizingFormulas: neutralizingFormulas, to: &buffer)
        if buffer.count >= bufferSize { try flush() }
    }

    /// Writes bytes exactly as given (a record copied from another file, say).
    public func write(raw bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= bufferSize { try flush() }
    }

    /// Hands the buffered bytes to the file.
    public func flush() throws {
        precondition(!isClosed, "CSVWriter used after close()")
        try buffer.withUnsafeBytes { bytes in
            var written = 0
            while written < bytes.count {
                let count = writeDescriptor(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw Self.systemError("write", path)
                }
                written += count
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, then closes the file if the writer opened it.
    public func close() throws {
        guard !isClosed else { return }
        try flush()
        isClosed = true
        if closesDescriptor && closeDescriptor(descriptor) != 0 { throw Self.systemError("close", path) }
    }

    /// One CSV line, LF included.
    public static func line(_ fields: [String], neutralizingFormulas: Bool = false) -> String {
        var bytes: [UInt8] = []
        appendLine(fields, neutralizingFormulas: neutralizingFormulas, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Guards a cell against spreadsheet formula injection (OWASP "CSV Injection").
    ///
    /// A cell starting with `=` `+` `-` `@` TAB or CR gets a leading `'`; so does a cell that
    /// starts with `'`s and then one of those, so that `unneutralize` is always its inverse.
    /// `line` and `write` quote every neutralized cell.
    public static func neutralize(_ cell: String) -> String {
        startsWithFormula(cell.utf8.drop { $0 == apostrophe }) ? "'" + cell : cell
    }

    /// Undoes `neutralize` on import: a cell of `'`s followed by `=` `+` `-` `@` TAB or CR loses one `'`.
    public static func unneutralize(_ cell: String) -> String {
        guard cell.utf8.first == apostrophe, startsWithFormula(cell.utf8.drop { $0 == apostrophe }) else {
            return cell
        }
        return String(cell.dropFirst())
    }

    private static let apostrophe = UInt8(ascii: "'")

    private static func startsWithFormula(_ bytes: some Sequence<UInt8>) -> Bool {
        var bytes = bytes.makeIterator()
        return switch bytes.next() {
        case UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D: true
        default: false
        }
    }

    /// Appends one CSV line of `fields`, LF included.
    public static func appendLine(_ fields: [String], neutralizingFormulas: Bool = false, to bytes: inout [UInt8]) {
        for (index, field) in fields.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            var utf8 = field
            utf8.withUTF8 { field in
                appendField(
                    field, isWholeLine: fields.count == 1, neutralizingFormulas: neutralizingFormulas, to: &bytes)
            }
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// Appends one field (UTF-8 bytes), quoted when it must be; the caller writes the `,` and the line end.
    public static func appendField(
        _ field: UnsafeBufferPointer<UInt8>, isWholeLine: Bool = false, neutralizingFormulas: Bool,
        to bytes: inout [UInt8]
    ) {
        let neutralized = neutralizingFormulas && startsWithFormula(field.drop { $0 == apostrophe })
        guard neutralized || needsQuotes(field) || (isWholeLine && field.isEmpty) else {
            bytes.append(contentsOf: field)
            return
        }
        bytes.append(quote)
        if neutralized { bytes.append(apostrophe) }
        for byte in field {
            if byte == quote { bytes.append(quote) }
            bytes.append(byte)
        }
        bytes.append(quote)
    }

    private static let quote = UInt8(ascii: "\"")

    private static func needsQuotes(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = field.first, let last = field.last else { return false }
        if first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 { return true }
        if field.count >= 3 && first == 0xEF && field[1] == 0xBB && field[2] == 0xBF { return true }  // U+FEFF
        for byte in field where byte == UInt8(ascii: ",") || byte == quote || byte == 0x0A || byte == 0x0D {
            return true
        }
        return false
    }

    private static func systemError(_ call: String, _ path: String) -> SpoolError {
        let code = errno
        return SpoolError(.io, "\(call) \(path): \(String(cString: strerror(code)))", errno: code)
    }
}

// The writer's own `write` and `close` hide the system calls inside the class.
private func writeDescriptor(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

@discardableResult private func closeDescriptor(_ descriptor: Int32) -> Int32 {
    close(descriptor)
}
