import Foundation
import SpoolEngine

/// How a CSV file was split: the header and one entry per chunk file.
public struct ChunkPlan: Codable, Sendable, Hashable {
    public struct Chunk: Codable, Sendable, Hashable {
        /// The file's name in the run's `chunks/` folder, e.g. `000001.csv`.
        public var file: String
        /// Well-formed data rows written to the file.
        public var rows: Int
        /// Malformed records in the chunk's range, as row errors: those among the file's first
        /// `problemLimit` malformed records.
        public var problems: [RowError]
        public var problemCount: Int
        public var firstRow: Int
        public var lastRow: Int
        /// Where in the source the next chunk starts.
        public var endOffset: Int64
    }

    public var header: [String]
    public var chunks: [Chunk]
    /// Data records in the source (blank lines excluded), well-formed or not.
    public var totalRows: Int
    /// False while chunking is in progress (in `chunks/manifest.json`).
    public var complete: Bool
}

/// Streams a CSV file into chunk files of at most `rowsPerChunk` records, each with the header.
///
/// Each chunk file starts with a `row` column holding the record's row number in the source, so
/// row errors name the row a spreadsheet shows. Malformed records become row errors here and are
/// not copied. Chunks are published in batches of `manifestEvery` (fewer when they are large),
/// two flushes a batch, each with a `manifest.json` recording progress, so a retried chunking
/// resumes at the last recorded offset instead of row 1.
public struct CSVChunker: Sendable {
    public var rowsPerChunk = 500
    public var manifestEvery = 50
    /// A batch is published early once its chunks hold this many bytes.
    public var batchBytes = 4 << 20
    /// The malformed records kept as row errors, the first in the file: as many as an import's
    /// error log holds, so the log's first errors are all there; the rest are counted.
    public static let problemLimit = 1000
    public static let manifest = "manifest.json"
    let writer: DurableWriter

    public init(writer: DurableWriter) { self.writer = writer }

    public func chunk(_ source: String, into directory: String) async throws -> ChunkPlan {
        try await writer.makeDirectory(directory)
        return try await writer.perform(gated: false) { [self] in try chunkNow(source, into: directory) }
    }

    private func chunkNow(_ source: String, into directory: String) throws -> ChunkPlan {
        var plan = resumablePlan(in: directory) ?? ChunkPlan(header: [], chunks: [], totalRows: 0, complete: false)
        let reader: CSVReader
        var headerLine: Data
        if let last = plan.chunks.last {
            reader = try CSVReader(path: source, startingAt: last.endOffset, firstRow: last.lastRow + 1)
            headerLine = Data(CSVWriter.line(["row"] + plan.header).utf8)
        } else {
            if let encoding = Self.wideEncoding(of: source) {
                throw NonRetriableError("the file is \(encoding) text, not UTF-8; save it as UTF-8 (\"CSV UTF-8\")")
            }
            reader = try CSVReader(path: source)
            guard let header = try Self.header(reader) else {
                throw NonRetriableError("the CSV file is empty: no header row")
            }
            plan.header = header
            headerLine = Data(CSVWriter.line(["row"] + header).utf8)
        }

        var problemsKept = plan.chunks.reduce(0) { $0 + $1.problems.count }
        var current = Data()
        var chunk = ChunkPlan.Chunk(
            file: "", rows: 0, problems: [], problemCount: 0, firstRow: 0, lastRow: 0, endOffset: 0)
        var batch: [(chunk: ChunkPlan.Chunk, data: Data)] = []
        // The manifest goes with its chunks, last: a crash may keep it while losing a chunk's
        // rename, and then `resumablePlan` finds that chunk missing and chunking starts over.
        func publishBatch() throws {
            plan.chunks += batch.map(\.chunk)
            let manifest = (data: try SpoolJSON.encoder.encode(plan), path: directory + "/" + Self.manifest)
            try writer.publishGated(batch.map { ($0.data, directory + "/" + $0.chunk.file) } + [manifest])
            batch.removeAll()
        }
        func flush() throws {
            guard chunk.rows + chunk.problemCount > 0 else { return }
            chunk.file = String(format: "%06d.csv", plan.chunks.count + batch.count + 1)
            batch.append((chunk, headerLine + current))
            if batch.count == manifestEvery || batch.reduce(0, { $0 + $1.data.count }) >= batchBytes {
                try publishBatch()
            }
            current.removeAll(keepingCapacity: true)
            chunk = ChunkPlan.Chunk(
                file: "", rows: 0, problems: [], problemCount: 0, firstRow: 0, lastRow: 0, endOffset: 0)
        }

        while let record = try reader.next() {
            if record.isBlank { continue }
            if chunk.rows + chunk.problemCount == 0 { chunk.firstRow = record.row }
            chunk.lastRow = record.row
            chunk.endOffset = record.endOffset
            plan.totalRows += 1
            if let problem = record.problem {
                chunk.problemCount += 1
                if problemsKept < Self.problemLimit {
                    chunk.problems.append(RowError(row: record.row, reason: problem.description))
                    problemsKept += 1
                }
            } else {
                current.append(contentsOf: "\(record.row),".utf8)
                reader.withLastRecordBytes { bytes in current.append(contentsOf: bytes) }
                if current.last != UInt8(ascii: "\n") && current.last != UInt8(ascii: "\r") {
                    current.append(UInt8(ascii: "\n"))
                }
                chunk.rows += 1
            }
            if chunk.rows + chunk.problemCount == rowsPerChunk { try flush() }
        }
        try flush()
        plan.complete = true
        try publishBatch()
        return plan
    }

    /// The progress of an interrupted chunking, if its manifest and every chunk it lists are there.
    private func resumablePlan(in directory: String) -> ChunkPlan? {
        guard let data = try? Disk.read(directory + "/" + Self.manifest),
            let plan = try? SpoolJSON.decoder.decode(ChunkPlan.self, from: data), !plan.complete,
            plan.chunks.allSatisfy({ Disk.exists(directory + "/" + $0.file) })
        else { return nil }
        return plan
    }

    /// "UTF-16" or "UTF-32" when the file starts with that byte order mark; nil otherwise.
    ///
    /// Read as UTF-8 such a file is one bad-encoding row per line, header first: say what it is instead.
    static func wideEncoding(of path: String) -> String? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        let head = Array((try? file.read(upToCount: 4)) ?? Data())
        if head.starts(with: [0x00, 0x00, 0xFE, 0xFF]) || head.starts(with: [0xFF, 0xFE, 0x00, 0x00]) {
            return "UTF-32"
        }
        if head.starts(with: [0xFE, 0xFF]) || head.starts(with: [0xFF, 0xFE]) { return "UTF-16" }
        return nil
    }

    /// The first non-blank record, which must be well-formed.
    private static func header(_ reader: CSVReader) throws -> [String]? {
        while let record = try reader.next() {
            if record.isBlank { continue }
            if let problem = record.problem { throw NonRetriableError("the header row is malformed: \(problem)") }
            return record.fields
        }
        return nil
    }
}

/// Reads a chunk file back: its header (without the `row` column) and its records with their source rows.
public struct ChunkFile {
    public let header: [String]
    private let path: String
    private let reader: CSVReader

    public init(path: String) throws {
        self.path = path
        // A record takes its row number and a comma in front in a chunk: room for them beyond the
        // source's own limit, so every record the chunker took reads back.
        var configuration = CSVReader.Configuration()
        configuration.maxRecordSize += String(Int.max).count + 1
        reader = try CSVReader(path: path, configuration: configuration)
        guard let first = try reader.next(), first.fields.first == "row" else {
            throw FolksbaseError(.invalidInput, "\(path) is not a chunk file (no row column)")
        }
        header = Array(first.fields.dropFirst())
    }

    /// The next data record: its source row and fields; nil at the end.
    public func next() throws -> (row: Int, fields: ArraySlice<String>)? {
        while let record = try reader.next() {
            if record.isBlank { continue }
            guard record.problem == nil, let row = record.fields.first.flatMap({ Int($0) }) else {
                throw FolksbaseError(
                    .invalidInput,
                    "\(path), record \(record.row), is not as the chunking step wrote it: the chunk file was changed or damaged"
                )
            }
            return (row, record.fields.dropFirst())
        }
        return nil
    }
}
