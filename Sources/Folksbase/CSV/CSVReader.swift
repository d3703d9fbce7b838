import SpoolEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Streams the records of a CSV file, RFC 4180 and lenient where sane, without loading the file.
///
/// Fields are separated by `,`; a record ends at LF, CRLF or a lone CR outside quotes; quoted
/// fields may hold commas, `""`, CR and LF; a missing final line end is fine. Blank lines are
/// records (`isBlank`) because a spreadsheet shows them as rows. Ragged records come back as
/// they are. Malformed records come back with a `problem` and best-effort fields, so one bad
/// row never stops a file. A UTF-8 byte order mark is skipped at offset 0 only.
///
/// The buffer holds at most `bufferSize` bytes plus the record being read, and a record longer
/// than `maxRecordSize` is skipped rather than held, so memory stays flat for any file.
/// A reader started at a record's `endOffset` continues exactly where another left off.
public final class CSVReader {
    /// The reader's buffer sizes.
    public struct Configuration: Sendable {
        /// Bytes read from the file at a time.
        public var bufferSize = 64 * 1024
        /// The longest record (not counting its line end) whose fields are read; longer ones are `.tooLarge`.
        public var maxRecordSize = 1 << 20

        public init() {}

        public init(bufferSize: Int, maxRecordSize: Int = 1 << 20) {
            self.bufferSize = bufferSize
            self.maxRecordSize = maxRecordSize
        }
    }

    /// The most bytes the reader has held in its buffer at once.
    public private(set) var peakBufferedBytes = 0

    private let path: String
    private let descriptor: Int32
    private let bufferSize: Int
    private let maxRecordSize: Int
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    /// The file offset of `storage[0]`.
    private var bufferOffset: Int64
    /// The first byte of the record being read.
    private var head = 0
    /// The end of the bytes read.
    private var tail = 0
    private var nextRow: Int
    private var lastRecord = 0..<0

    // The record being read; positions are indexes into `storage`.
    private var recordOffset: Int64 = 0
    private var scanned = 0
    private var state = ScanState.fieldStart
    private var fieldStart = 0
    private var fieldKind = FieldKind.plain
    private var contentEnd = 0
    private var pendingCR = false
    private var skipping = false
    private var problem: CSVProblem?
    private var spans: [FieldSpan] = []
    /// While re-reading a record that an unclosed quote ran to the end of file: its first line end.
    private var forcedEnd: (content: Int64, next: Int64)?

    /// Reads `path` from `offset` (0 = start; a UTF-8 BOM there is skipped); `firstRow` is the first record's row.
    public init(
        path: String, startingAt offset: Int64 = 0, firstRow: Int = 1, configuration: Configuration = .init()
    ) throws {
        precondition(
            configuration.bufferSize > 0 && configuration.maxRecordSize > 0, "CSV buffer sizes must be positive")
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw Self.systemError("open", path) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw FolksbaseError(.invalidInput, "\(path) is not a regular file")
        }
        self.path = path
        self.descriptor = descriptor
        bufferSize = configuration.bufferSize
        maxRecordSize = configuration.maxRecordSize
        capacity = bufferSize
        storage = .allocate(byteCount: capacity, alignment: 16)
        bufferOffset = offset
        nextRow = firstRow
        if offset == 0 {
            var bom: (UInt8, UInt8, UInt8) = (0, 0, 0)
            let count = try withUnsafeMutableBytes(of: &bom) { try readFile(into: $0, at: 0) }
            if count == 3 && bom == (0xEF, 0xBB, 0xBF) { bufferOffset = 3 }
        }
    }

    deinit {
        close(descriptor)
        storage.deallocate()
    }

    /// The next record, or nil at the end of the file.
    public func next() throws -> CSVRecord? {
        beginRecord()
        while true {
            if let end = scan() { return finishRecord(endingAt: end) }
            if try fill() { continue }
            // The file (or the line being re-read) ends inside the record.
            if !skipping && bufferOffset + Int64(tail) == recordOffset { return nil }
            if pendingCR { return finishRecord(endingAt: tail) }
            if state == .quoted {
                guard let forcedEnd else {
                    try rereadToFirstLineEnd()
                    continue
                }
                endLastField(at: Int(forcedEnd.content - bufferOffset), kind: .escaped)
                problem = .unterminatedQuote
            } else {
                endLastField(at: tail, kind: fieldKind)
            }
            return finishRecord(endingAt: tail)
        }
    }

    /// Calls `body` with the bytes of the last record returned, exactly as in the file, line end included.
    ///
    /// The bytes are valid until the next call to `next()`; they are empty for a `.tooLarge` record.
    public func withLastRecordBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: storage + lastRecord.lowerBound, count: lastRecord.count))
    }

    private func beginRecord() {
        lastRecord = head..<head
        recordOffset = bufferOffset + Int64(head)
        scanned = head
        state = .fieldStart
        fieldKind = .plain
        pendingCR = false
        skipping = false
        problem = nil
        // A record of a million empty fields should not pin their spans for the rest of the file.
        if spans.capacity > 4096 { spans = [] } else { spans.removeAll(keepingCapacity: true) }
    }

    /// Scans the buffered bytes of the current record; returns where the next record starts once this one ends.
    private func scan() -> Int? {
        let bytes = storage.assumingMemoryBound(to: UInt8.self)
        let end = tail
        let head = head
        var i = scanned
        var state = state
        var kind = fieldKind
        var fieldStart = fieldStart
        var spans: [FieldSpan] = []
        swap(&spans, &self.spans)
        defer {
            scanned = i
            self.state = state
            fieldKind = kind
            self.fieldStart = fieldStart
            swap(&spans, &self.spans)
        }
        if pendingCR {
            guard i < end else { return nil }
            pendingCR = false
            return bytes[i] == Byte.lf ? i + 1 : i
        }
        scanning: while i < end {
            switch state {
            case .fieldStart:
                fieldStart = i
                if bytes[i] == Byte.quote {
                    state = .quoted
                    kind = .quoted
                    i += 1
                } else {
                    state = .unquoted
                    kind = .plain
                }
            case .quoted:
                if let quote = memchr(bytes + i, Int32(Byte.quote), end - i) {
                    i = bytes.distance(to: quote.assumingMemoryBound(to: UInt8.self)) + 1
                    state = .closingQuote
                } else {
                    i = end
                }
            case .closingQuote:
                let byte = bytes[i]
                if byte == Byte.quote {
                    kind = .escaped
                    state = .quoted
                    i += 1
                } else if byte == Byte.comma || byte == Byte.lf || byte == Byte.cr {
                    state = .unquoted
                } else {
                    note(.textAfterClosingQuote)
                    kind = .escaped
                    state = .afterClosingQuote
                }
            case .unquoted, .afterClosingQuote:
                while i < end {
                    let byte = bytes[i]
                    if byte > Byte.quote && byte != Byte.comma {
                        i += 1
                        continue
                    }
                    switch byte {
                    case Byte.comma:
                        spans.append(FieldSpan(start: fieldStart - head, end: i - head, kind: kind))
                        state = .fieldStart
                        i += 1
                        continue scanning
                    case Byte.lf:
                        spans.append(FieldSpan(start: fieldStart - head, end: i - head, kind: kind))
                        contentEnd = i
                        state = .fieldStart
                        i += 1
                        return i
                    case Byte.cr:
                        spans.append(FieldSpan(start: fieldStart - head, end: i - head, kind: kind))
                        contentEnd = i
                        state = .fieldStart
                        i += 1
                        if i < end { return bytes[i] == Byte.lf ? i + 1 : i }
                        pendingCR = true
                        return nil
                    case Byte.quote:
                        note(state == .unquoted ? .quoteInUnquotedField : .textAfterClosingQuote)
                    default:
                        break
                    }
                    i += 1
                }
            }
        }
        return nil
    }

    /// Ends the record's last field, and its content, at `end`.
    private func endLastField(at end: Int, kind: FieldKind) {
        guard state != .fieldStart else {
            spans.append(FieldSpan(start: end - head, end: end - head, kind: .plain))
            contentEnd = end
            return
        }
        spans.append(FieldSpan(start: fieldStart - head, end: end - head, kind: kind))
        contentEnd = end
    }

    private func note(_ problem: CSVProblem) {
        if self.problem == nil { self.problem = problem }
    }

    private func finishRecord(endingAt end: Int) -> CSVRecord {
        var record = CSVRecord(
            fields: [], row: nextRow, startOffset: recordOffset, endOffset: bufferOffset + Int64(end), problem: problem)
        nextRow += 1
        if skipping || contentEnd - head > maxRecordSize {
            record.problem = .tooLarge(limit: maxRecordSize)
            lastRecord = end..<end
        } else {
            lastRecord = head..<end
            if contentEnd == head {
                record.isBlank = true
            } else {
                let content = UnsafePointer(storage.assumingMemoryBound(to: UInt8.self)) + head
                if record.problem == nil && !Self.isValidUTF8(content, count: contentEnd - head) {
                    record.problem = .invalidUTF8
                }
                record.fields = decodeFields()
            }
        }
        head = end
        forcedEnd = nil
        return record
    }

    /// The current record's fields as text; invalid UTF-8 is replaced by U+FFFD.
    private func decodeFields() -> [String] {
        let base = UnsafePointer(storage.assumingMemoryBound(to: UInt8.self)) + head
        var fields: [String] = []
        fields.reserveCapacity(spans.count)
        for span in spans {
            switch span.kind {
            case .plain:
                let bytes = UnsafeBufferPointer(start: base + span.start, count: span.end - span.start)
                fields.append(String(decoding: bytes, as: UTF8.self))
            case .quoted:
                let bytes = UnsafeBufferPointer(start: base + span.start + 1, count: span.end - span.start - 2)
                fields.append(String(decoding: bytes, as: UTF8.self))
            case .escaped:
                let raw = UnsafeBufferPointer(start: base + span.start, count: span.end - span.start)
                fields.append(String(decoding: Self.unescape(raw), as: UTF8.self))
            }
        }
        return fields
    }

    /// Whether `count` bytes are well-formed UTF-8: no stray continuation bytes, overlong forms, surrogates
    /// or code points past U+10FFFF.
    private static func isValidUTF8(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        func continues(_ index: Int, from low: UInt8 = 0x80, to high: UInt8 = 0xBF) -> Bool {
            index < count && bytes[index] >= low && bytes[index] <= high
        }
        var i = 0
        while i < count {
            if i + 8 <= count {
                let eightBytes = UnsafeRawPointer(bytes + i).loadUnaligned(as: UInt64.self)
                if eightBytes & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                    continue
                }
            }
            switch bytes[i] {
            case 0x00...0x7F:
                i += 1
            case 0xC2...0xDF:
                guard continues(i + 1) else { return false }
                i += 2
            case 0xE0, 0xE1...0xEC, 0xED, 0xEE...0xEF:
                let low: UInt8 = bytes[i] == 0xE0 ? 0xA0 : 0x80
                let high: UInt8 = bytes[i] == 0xED ? 0x9F : 0xBF
                guard continues(i + 1, from: low, to: high), continues(i + 2) else { return false }
                i += 3
            case 0xF0...0xF4:
                let low: UInt8 = bytes[i] == 0xF0 ? 0x90 : 0x80
                let high: UInt8 = bytes[i] == 0xF4 ? 0x8F : 0xBF
                guard continues(i + 1, from: low, to: high), continues(i + 2), continues(i + 3) else { return false }
                i += 4
            default:
                return false
            }
        }
        return true
    }

    /// The text of a quoted field: quotes removed, `""` read as `"`, anything after the closing quote kept as is.
    private static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(raw.count)
        var inQuotes = false
        var i = 0
        if raw.first == Byte.quote {
            inQuotes = true
            i = 1
        }
        while i < raw.count {
            let byte = raw[i]
            i += 1
            if inQuotes && byte == Byte.quote {
                if i < raw.count && raw[i] == Byte.quote {
                    text.append(Byte.quote)
                    i += 1
                } else {
                    inQuotes = false
                }
            } else {
                text.append(byte)
            }
        }
        return text
    }

    /// Reads more of the file into the buffer, first making room; false at the end of the file.
    private func fill() throws -> Bool {
        if !skipping && tail - head - (pendingCR ? 1 : 0) > maxRecordSize {
            skipping = true
        }
        if skipping {
            // A record too large to hold: drop what was read, keep only the scanner's state.
            bufferOffset += Int64(tail)
            head = 0
            tail = 0
            scanned = 0
            spans.removeAll(keepingCapacity: true)
        } else if head > 0 {
            let kept = tail - head
            if kept > 0 { memmove(storage, storage + head, kept) }
            bufferOffset += Int64(head)
            scanned -= head
            fieldStart -= head
            contentEnd -= head
            tail = kept
            head = 0
        }
        if capacity - tail < bufferSize {
            let grown = min(max(2 * capacity, tail + bufferSize), bufferSize + maxRecordSize + 1)
            let larger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
            larger.copyMemory(from: storage, byteCount: tail)
            storage.deallocate()
            storage = larger
            capacity = grown
        }
        var wanted = min(bufferSize, capacity - tail)
        let offset = bufferOffset + Int64(tail)
        if let forcedEnd { wanted = min(wanted, Int(forcedEnd.next - offset)) }
        guard wanted > 0 else { return false }
        let count = try readFile(into: UnsafeMutableRawBufferPointer(start: storage + tail, count: wanted), at: offset)
        tail += count
        peakBufferedBytes = max(peakBufferedBytes, tail)
        return count > 0
    }

    /// Starts the current record again, ending it at its first line end: a quote it opened was never closed.
    private func rereadToFirstLineEnd() throws {
        var offset = recordOffset
        var lineEnd: (content: Int64, next: Int64)?
        searching: while true {
            let buffer = UnsafeMutableRawBufferPointer(start: storage, count: capacity)
            let count = try readFile(into: buffer, at: offset)
            if count == 0 { break }
            peakBufferedBytes = max(peakBufferedBytes, count)
            for i in 0..<count where buffer[i] == Byte.lf || buffer[i] == Byte.cr {
                let content = offset + Int64(i)
                lineEnd = (content, content + 1)
                if buffer[i] == Byte.cr {
                    var next: UInt8 = 0
                    let found = try withUnsafeMutableBytes(of: &next) { try readFile(into: $0, at: content + 1) }
                    if found == 1 && next == Byte.lf { lineEnd = (content, content + 2) }
                }
                break searching
            }
            offset += Int64(count)
        }
        forcedEnd = lineEnd ?? (offset, offset)
        bufferOffset = recordOffset
        head = 0
        tail = 0
        beginRecord()
    }

    /// Reads up to `buffer.count` bytes at `offset`, retrying interrupted and short reads; 0 at end of file.
    private func readFile(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var total = 0
        while total < buffer.count {
            let count = pread(
                descriptor, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                throw Self.systemError("read", path)
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    private static func systemError(_ call: String, _ path: String) -> SpoolError {
        let code = errno
        return SpoolError(.io, "\(call) \(path): \(String(cString: strerror(code)))", errno: code)
    }
}

private enum ScanState {
    case fieldStart
    case unquoted
    case quoted
    /// Just past a quote inside a quoted field: a second quote, a separator or stray text follows.
    case closingQuote
    /// Stray text after a closing quote, kept as is up to the next separator.
    case afterClosingQuote
}

private enum FieldKind {
    /// Unquoted: the bytes are the text.
    case plain
    /// Quoted with no `""` inside: the bytes between the quotes are the text.
    case quoted
    /// Quoted with `""` or text after the closing quote: the text needs unescaping.
    case escaped
}

/// A field's bytes, relative to the start of its record.
private struct FieldSpan {
    var start: Int
    var end: Int
    var kind: FieldKind
}

private enum Byte {
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let quote = UInt8(ascii: "\"")
    static let comma = UInt8(ascii: ",")
}
