import Foundation
import SpoolEngine
import Testing

@testable import Folksbase

@Suite struct CSVReaderTests {
    /// A record as a test sees it: the reader's record and its raw bytes.
    struct Read: Equatable, CustomStringConvertible {
        var record: CSVRecord
        var bytes: [UInt8]

        var description: String {
            "row \(record.row) \(record.fields) \(record.startOffset)..<\(record.endOffset)"
                + " blank=\(record.isBlank) problem=\(record.problem.map(String.init(describing:)) ?? "nil")"
                + " bytes=\(String(decoding: bytes, as: UTF8.self).debugDescription)"
        }
    }

    /// One hand-written input and the fields, blankness and problem of each record it must give.
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var bytes: [UInt8]
        var expected: [Expected]
        var maxRecordSize = 1 << 20

        var description: String { name }
    }

    struct Expected: Equatable, Sendable {
        var fields: [String]
        var problem: CSVProblem? = nil
        var isBlank: Bool { fields.isEmpty && problem == nil }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let cases: [Case] = [
        Case(
            name: "plain LF", bytes: bytes("a,b,c\n1,2,3\n"),
            expected: [.init(fields: ["a", "b", "c"]), .init(fields: ["1", "2", "3"])]),
        Case(name: "quoted comma", bytes: bytes("\"a,b\",c\n"), expected: [.init(fields: ["a,b", "c"])]),
        Case(
            name: "doubled quotes", bytes: bytes("\"say \"\"hi\"\"\",\"\"\"\"\n"),
            expected: [.init(fields: ["say \"hi\"", "\""])]),
        Case(
            name: "line ends inside quotes", bytes: bytes("\"l1\nl2\",\"c\rr\",\"x\r\ny\"\nnext\n"),
            expected: [.init(fields: ["l1\nl2", "c\rr", "x\r\ny"]), .init(fields: ["next"])]),
        Case(
            name: "CRLF, LF and lone CR row ends", bytes: bytes("a\r\nb\nc\rd"),
            expected: [.init(fields: ["a"]), .init(fields: ["b"]), .init(fields: ["c"]), .init(fields: ["d"])]),
        Case(
            name: "byte order mark", bytes: [0xEF, 0xBB, 0xBF] + bytes("h1,h2\nx,y\n"),
            expected: [.init(fields: ["h1", "h2"]), .init(fields: ["x", "y"])]),
        Case(
            name: "byte order mark after offset 0 is text", bytes: bytes("a\n\u{FEFF}b\n"),
            expected: [.init(fields: ["a"]), .init(fields: ["\u{FEFF}b"])]),
        Case(
            name: "missing final newline", bytes: bytes("a,b\nc,d"),
            expected: [.init(fields: ["a", "b"]), .init(fields: ["c", "d"])]),
        Case(name: "quoted field at end of file", bytes: bytes("a,\"b\""), expected: [.init(fields: ["a", "b"])]),
        Case(
            name: "quoted field then a comma at end of file", bytes: bytes("\"a\","),
            expected: [.init(fields: ["a", ""])]),
        Case(
            name: "blank lines", bytes: bytes("a\n\nb\n\r\n\rc\n\n"),
            expected: [
                .init(fields: ["a"]), .init(fields: []), .init(fields: ["b"]), .init(fields: []), .init(fields: []),
                .init(fields: ["c"]), .init(fields: []),
            ]),
        Case(
            name: "ragged rows", bytes: bytes("a,b,c\n1\n1,2,3,4\n"),
            expected: [.init(fields: ["a", "b", "c"]), .init(fields: ["1"]), .init(fields: ["1", "2", "3", "4"])]),
        Case(
            name: "empty fields", bytes: bytes(",\n,,\n\"\"\n \na,"),
            expected: [
                .init(fields: ["", ""]), .init(fields: ["", "", ""]), .init(fields: [""]), .init(fields: [" "]),
                .init(fields: ["a", ""]),
            ]),
        Case(name: "unicode", bytes: bytes("Zoë 🌟,Nguyễn\n"), expected: [.init(fields: ["Zoë 🌟", "Nguyễn"])]),
        Case(
            name: "invalid UTF-8",
            bytes: bytes("a,") + [0xC3, 0x28] + bytes("\n\"") + [0xED, 0xA0, 0x80] + bytes("\",") + [0xFF]
                + bytes("\nok\n"),
            expected: [
                .init(fields: ["a", "\u{FFFD}("], problem: .invalidUTF8),
                .init(fields: ["\u{FFFD}\u{FFFD}\u{FFFD}", "\u{FFFD}"], problem: .invalidUTF8), .init(fields: ["ok"]),
            ]),
        Case(
            name: "unterminated quote ends at its first line end", bytes: bytes("h\na,\"bc\nd,e\r\nf"),
            expected: [
                .init(fields: ["h"]), .init(fields: ["a", "bc"], problem: .unterminatedQuote),
                .init(fields: ["d", "e"]),
                .init(fields: ["f"]),
            ]),
        Case(
            name: "unterminated quote without a line end", bytes: bytes("h\n\"abc"),
            expected: [.init(fields: ["h"]), .init(fields: ["abc"], problem: .unterminatedQuote)]),
        Case(
            name: "unterminated quote after a CR", bytes: bytes("\"x\ry\rz"),
            expected: [.init(fields: ["x"], problem: .unterminatedQuote), .init(fields: ["y"]), .init(fields: ["z"])]),
        Case(
            name: "text after closing quote", bytes: bytes("\"abc\"def,g\n\"a\"\"b\"c\"d\nok\n"),
            expected: [
                .init(fields: ["abcdef", "g"], problem: .textAfterClosingQuote),
                .init(fields: ["a\"bc\"d"], problem: .textAfterClosingQuote), .init(fields: ["ok"]),
            ]),
        Case(
            name: "quote in unquoted field", bytes: bytes("ab\"c,d\n x \"y\"\nok\n"),
            expected: [
                .init(fields: ["ab\"c", "d"], problem: .quoteInUnquotedField),
                .init(fields: [" x \"y\""], problem: .quoteInUnquotedField), .init(fields: ["ok"]),
            ]),
        Case(
            name: "too large records are skipped to their line end outside quotes",
            bytes: bytes(
                "short\n0123456789ABCDEF\nok,1\n\"0123456\n789\",\"AB\r\nCD\"\r\nok,2\n0123456789\r\n0123456789A"),
            expected: [
                .init(fields: ["short"]), .init(fields: [], problem: .tooLarge(limit: 10)), .init(fields: ["ok", "1"]),
                .init(fields: [], problem: .tooLarge(limit: 10)), .init(fields: ["ok", "2"]),
                .init(fields: ["0123456789"]), .init(fields: [], problem: .tooLarge(limit: 10)),
            ],
            maxRecordSize: 10),
        Case(
            name: "a too large unterminated quote ends at its first line end",
            bytes: bytes("ok\nx,\"0123456789ABCDEF\nrow,3\nrow,4"),
            expected: [
                .init(fields: ["ok"]), .init(fields: [], problem: .tooLarge(limit: 10)), .init(fields: ["row", "3"]),
                .init(fields: ["row", "4"]),
            ],
            maxRecordSize: 10),
        Case(
            name: "a short unterminated quote under a small limit", bytes: bytes("\"ab\n0123456789ABCDEF\nok"),
            expected: [
                .init(fields: ["ab"], problem: .unterminatedQuote), .init(fields: [], problem: .tooLarge(limit: 10)),
                .init(fields: ["ok"]),
            ],
            maxRecordSize: 10),
        Case(name: "empty file", bytes: [], expected: []),
        Case(name: "only a byte order mark", bytes: [0xEF, 0xBB, 0xBF], expected: []),
    ]

    /// Writes `bytes` to a file in `directory`; returns its path.
    static func file(_ bytes: [UInt8], in directory: String) throws -> String {
        let path = directory + "/input.csv"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Every record of the file at `path`, with its bytes, read with `configuration` from `offset`.
    static func readAll(
        _ path: String, configuration: CSVReader.Configuration = .init(), startingAt offset: Int64 = 0,
        firstRow: Int = 1
    ) throws -> [Read] {
        let reader = try CSVReader(path: path, startingAt: offset, firstRow: firstRow, configuration: configuration)
        var reads: [Read] = []
        while let record = try reader.next() {
            reads.append(Read(record: record, bytes: reader.withLastRecordBytes { Array($0) }))
        }
        #expect(try reader.next() == nil)
        return reads
    }

    @Test(arguments: cases) func readsHandWrittenCases(_ testCase: Case) async throws {
        try await withTemporaryDirectory { directory in
            let configuration = CSVReader.Configuration(bufferSize: 64 * 1024, maxRecordSize: testCase.maxRecordSize)
            let reads = try Self.readAll(try Self.file(testCase.bytes, in: directory), configuration: configuration)
            let got = reads.map { Expected(fields: $0.record.fields, problem: $0.record.problem) }
            #expect(got == testCase.expected)
            #expect(reads.map(\.record.isBlank) == testCase.expected.map(\.isBlank))
            #expect(reads.map(\.record.row) == Array(1..<(1 + testCase.expected.count)))

            Self.expectRecordsTile(testCase.bytes, reads)
        }
    }

    /// Checks that the records cover the file (after any BOM) end to end, each with its exact bytes.
    static func expectRecordsTile(_ bytes: [UInt8], _ reads: [Read]) {
        let skipped: Int64 = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        #expect(reads.first?.record.startOffset ?? skipped == skipped)
        #expect(reads.last?.record.endOffset ?? Int64(bytes.count) == Int64(bytes.count))
        for (read, following) in zip(reads, reads.dropFirst()) {
            #expect(read.record.endOffset == following.record.startOffset)
            #expect(read.record.row + 1 == following.record.row)
        }
        for read in reads {
            #expect(read.record.startOffset < read.record.endOffset)
            let inFile = Array(bytes[Int(read.record.startOffset)..<Int(read.record.endOffset)])
            if case .tooLarge = read.record.problem {
                #expect(read.bytes.isEmpty)
            } else {
                #expect(read.bytes == inFile, "\(read)")
            }
        }
    }

    @Test func randomBytesReadTheSameWithAnyBufferAndFromAnyEndOffset() async throws {
        try await withTemporaryDirectory { directory in
            var random = SplitMix64(seed: 4180)
            let alphabet: [[UInt8]] = [
                [UInt8(ascii: "a")], [UInt8(ascii: "b")], [UInt8(ascii: ",")], [UInt8(ascii: "\"")],
                [UInt8(ascii: "\"")], [UInt8(ascii: "\r")], [UInt8(ascii: "\n")], [UInt8(ascii: " ")], [0xC3, 0xA9],
                [0xC3], [0xEF, 0xBB, 0xBF],
            ]
            for _ in 0..<400 {
                let bytes = (0..<Int(random.next() % 40)).flatMap { _ in alphabet[Int(random.next() % 11)] }
                let maxRecordSize = 4 + Int(random.next() % 12)
                let path = try Self.file(bytes, in: directory)
                let expected = try Self.readAll(
                    path, configuration: .init(bufferSize: 4096, maxRecordSize: maxRecordSize))
                Self.expectRecordsTile(bytes, expected)
                for bufferSize in [1, 2, 5] {
                    let configuration = CSVReader.Configuration(bufferSize: bufferSize, maxRecordSize: maxRecordSize)
                    let reads = try Self.readAll(path, configuration: configuration)
                    #expect(reads == expected, "\(bytes) with a buffer of \(bufferSize)")
                }
                for (index, read) in expected.enumerated() {
                    let rest = try Self.readAll(
                        path, configuration: .init(bufferSize: 3, maxRecordSize: maxRecordSize),
                        startingAt: read.record.endOffset, firstRow: read.record.row + 1)
                    #expect(rest == Array(expected[(index + 1)...]), "\(bytes) resumed after row \(read.record.row)")
                }
            }
        }
    }

    @Test(arguments: cases) func tinyBuffersReadTheSameRecords(_ testCase: Case) async throws {
        try await withTemporaryDirectory { directory in
            let path = try Self.file(testCase.bytes, in: directory)
            let expected = try Self.readAll(
                path, configuration: .init(bufferSize: 64 * 1024, maxRecordSize: testCase.maxRecordSize))
            for bufferSize in [1, 2, 3, 7] {
                let configuration = CSVReader.Configuration(
                    bufferSize: bufferSize, maxRecordSize: testCase.maxRecordSize)
                let reads = try Self.readAll(path, configuration: configuration)
                #expect(reads == expected, "buffer of \(bufferSize) bytes")
            }
        }
    }

    @Test(arguments: cases) func resumingAtAnEndOffsetReadsTheRest(_ testCase: Case) async throws {
        try await withTemporaryDirectory { directory in
            let configuration = CSVReader.Configuration(bufferSize: 5, maxRecordSize: testCase.maxRecordSize)
            let path = try Self.file(testCase.bytes, in: directory)
            let all = try Self.readAll(path, configuration: configuration)
            for (index, read) in all.enumerated() {
                let rest = try Self.readAll(
                    path, configuration: configuration, startingAt: read.record.endOffset, firstRow: read.record.row + 1
                )
                #expect(rest == Array(all[(index + 1)...]), "resumed after row \(read.record.row)")
            }
        }
    }

    @Test func offsetsAndRawBytesAreExact() async throws {
        try await withTemporaryDirectory { directory in
            let bytes = [0xEF, 0xBB, 0xBF] + Self.bytes("id,name\r\n1,\"a\nb\"\r\n\n2,x\r3,\"q\"\"\"")
            let reads = try Self.readAll(try Self.file(bytes, in: directory))
            #expect(reads.map(\.record.startOffset) == [3, 12, 21, 22, 26])
            #expect(reads.map(\.record.endOffset) == [12, 21, 22, 26, 33])
            #expect(reads.map(\.record.row) == [1, 2, 3, 4, 5])
            #expect(
                reads.map { String(decoding: $0.bytes, as: UTF8.self) } == [
                    "id,name\r\n", "1,\"a\nb\"\r\n", "\n", "2,x\r", "3,\"q\"\"\"",
                ])
            #expect(reads.map(\.record.fields) == [["id", "name"], ["1", "a\nb"], [], ["2", "x"], ["3", "q\""]])
        }
    }

    @Test func firstRowNumbersTheRecords() async throws {
        try await withTemporaryDirectory { directory in
            let reads = try Self.readAll(try Self.file(Self.bytes("a\n\nb\n"), in: directory), firstRow: 41)
            #expect(reads.map(\.record.row) == [41, 42, 43])
        }
    }

    @Test func recordsAtTheSizeLimitAreRead() async throws {
        try await withTemporaryDirectory { directory in
            let bytes = Self.bytes("0123456789\r\n\"01234567\"\n012345678,\n")
            let reads = try Self.readAll(
                try Self.file(bytes, in: directory), configuration: .init(bufferSize: 3, maxRecordSize: 10))
            #expect(reads.map(\.record.fields) == [["0123456789"], ["01234567"], ["012345678", ""]])
            #expect(reads.allSatisfy { $0.record.problem == nil })
        }
    }

    @Test func bufferStaysBoundedOnAMultiMegabyteFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/contacts.csv"
            try DemoContactsCSV(rows: 40_000, seed: 3).write(to: path)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            #expect(size > 3_000_000)
            let configuration = CSVReader.Configuration(bufferSize: 4096, maxRecordSize: 4096)
            let reader = try CSVReader(path: path, configuration: configuration)
            var records = 0
            while let record = try reader.next() {
                #expect(record.problem == nil)
                records += 1
            }
            #expect(records == 40_001)
            #expect(reader.peakBufferedBytes <= configuration.bufferSize + configuration.maxRecordSize + 1)
            #expect(reader.peakBufferedBytes < size / 100)
        }
    }

    @Test func aHugeRecordIsSkippedWithoutHoldingIt() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/huge.csv"
            var bytes = Self.bytes("before\n\"")
            bytes += [UInt8](repeating: UInt8(ascii: "x"), count: 3_000_000)
            bytes += Self.bytes("\n,\",tail\nafter\n")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let configuration = CSVReader.Configuration(bufferSize: 8192, maxRecordSize: 65536)
            let reader = try CSVReader(path: path, configuration: configuration)
            #expect(try reader.next()?.fields == ["before"])
            let huge = try #require(try reader.next())
            #expect(huge.problem == .tooLarge(limit: 65536))
            #expect(huge.endOffset == Int64(bytes.count - 6))
            #expect(try reader.next()?.fields == ["after"])
            #expect(try reader.next() == nil)
            #expect(reader.peakBufferedBytes <= 8192 + 65536 + 1)
        }
    }

    @Test func aMissingFileIsAnIOError() throws {
        #expect(throws: SpoolError.self) { try CSVReader(path: "/nonexistent/folksbase/input.csv") }
    }

    @Test func aDirectoryIsNotACSVFile() async throws {
        try await withTemporaryDirectory { directory in
            let error = #expect(throws: FolksbaseError.self) { try CSVReader(path: directory) }
            #expect(error?.code == .invalidInput)
        }
    }

    @Test func problemsDescribeThemselves() {
        #expect(CSVProblem.textAfterClosingQuote.description == "bad quoting: text after a closing quote")
        #expect(CSVProblem.tooLarge(limit: 1024).description.contains("1024"))
        let all: [CSVProblem] = [
            .invalidUTF8, .unterminatedQuote, .textAfterClosingQuote, .quoteInUnquotedField, .tooLarge(limit: 1),
        ]
        #expect(Set(all.map(\.description)).count == all.count)
    }
}
