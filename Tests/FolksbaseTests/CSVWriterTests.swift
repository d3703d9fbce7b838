import Foundation
import SpoolEngine
import Testing

@testable import Folksbase

@Suite struct CSVWriterTests {
    @Test func quotesOnlyWhatNeedsQuoting() {
        #expect(CSVWriter.line(["a", "b c", "", "é🦄"]) == "a,b c,,é🦄\n")
        #expect(
            CSVWriter.line(["a,b", "say \"hi\"", "x\ny", "x\ry"]) == "\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",\"x\ry\"\n")
        #expect(CSVWriter.line([" lead", "trail ", "\ttab", "mid dle"]) == "\" lead\",\"trail \",\"\ttab\",mid dle\n")
        #expect(CSVWriter.line(["\u{FEFF}bom"]) == "\"\u{FEFF}bom\"\n")
    }

    @Test func aLoneEmptyFieldIsNotABlankLine() {
        #expect(CSVWriter.line([""]) == "\"\"\n")
        #expect(CSVWriter.line(["", ""]) == ",\n")
        #expect(CSVWriter.line([]) == "\n")
    }

    @Test func neutralizesFormulaCells() {
        for cell in ["=1+2", "+1 555", "-5", "@SUM(A1)", "\tx", "\rx"] {
            #expect(CSVWriter.neutralize(cell) == "'" + cell)
            #expect(CSVWriter.unneutralize(CSVWriter.neutralize(cell)) == cell)
        }
        for cell in ["plain", "", "a=b", "'quoted", "1-2", " =x"] {
            #expect(CSVWriter.neutralize(cell) == cell)
            #expect(CSVWriter.unneutralize(cell) == cell)
        }
        #expect(CSVWriter.neutralize("'=x") == "''=x")
        #expect(CSVWriter.unneutralize("''=x") == "'=x")
        #expect(CSVWriter.unneutralize("'=x") == "=x")
        #expect(CSVWriter.unneutralize("'") == "'")
        #expect(CSVWriter.line(["=1+2", "ok", "-1,5"], neutralizingFormulas: true) == "\"'=1+2\",ok,\"'-1,5\"\n")
        #expect(CSVWriter.line(["=1+2"]) == "=1+2\n")
    }

    @Test func roundTripsNastyFieldsThroughTheReader() async throws {
        try await withTemporaryDirectory { directory in
            var random = SplitMix64(seed: 20_261_130)
            let rows = (0..<1500).map { _ in Self.nastyRow(&random) }
            for neutralizing in [false, true] {
                let path = directory + "/round-trip-\(neutralizing).csv"
                let writer = try CSVWriter(path: path, bufferSize: 1000)
                for row in rows { try writer.write(row, neutralizingFormulas: neutralizing) }
                try writer.close()

                let written = try Data(contentsOf: URL(fileURLWithPath: path))
                let lines = rows.map { CSVWriter.line($0, neutralizingFormulas: neutralizing) }.joined()
                #expect(written == Data(lines.utf8))

                let reader = try CSVReader(path: path, configuration: .init(bufferSize: 100))
                var read: [[String]] = []
                while let record = try reader.next() {
                    #expect(record.problem == nil)
                    read.append(neutralizing ? record.fields.map(CSVWriter.unneutralize) : record.fields)
                }
                #expect(read.count == rows.count)
                for (index, (got, original)) in zip(read, rows).enumerated() where got != original {
                    Issue.record("row \(index + 1): read \(got.debugDescription), wrote \(original.debugDescription)")
                    break
                }
            }
        }
    }

    @Test func rawBytesAreWrittenAsGiven() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/raw.csv"
            let writer = try CSVWriter(path: path)
            try writer.write(["h"])
            let raw: [UInt8] = Array("1,\"a\r\nb\"\r\n".utf8) + [0xFF]
            try raw.withUnsafeBytes { try writer.write(raw: $0) }
            try writer.close()
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("h\n".utf8) + Data(raw))
        }
    }

    @Test func aFileThatCannotBeCreatedIsAnIOError() {
        #expect(throws: SpoolError.self) { try CSVWriter(path: "/nonexistent/folksbase/out.csv") }
    }

    /// A row of 1 to 8 fields built from the pieces that break CSV writers.
    static func nastyRow(_ random: inout SplitMix64) -> [String] {
        let pieces = [
            ",", "\"", "\r", "\n", "\r\n", "é", "🦄", "👩‍💻", "=", "+", "-", "@", "\t", " ", "'", "a", "bc", "'=",
            "\u{FEFF}",
            "",
        ]
        return (0..<(1 + Int(random.next() % 8))).map { _ in
            (0..<Int(random.next() % 6)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
        }
    }
}
