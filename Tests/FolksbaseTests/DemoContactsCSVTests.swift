import Foundation
import Testing

@testable import Folksbase

@Suite struct DemoContactsCSVTests {
    func generate(_ demo: DemoContactsCSV, in directory: String, name: String = "contacts.csv") throws -> Data {
        let path = directory + "/" + name
        try demo.write(to: path)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// The records of a CSV file, header first.
    func records(at path: String) throws -> [CSVRecord] {
        let reader = try CSVReader(path: path)
        var records: [CSVRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() async throws {
        try await withTemporaryDirectory { directory in
            let first = try generate(DemoContactsCSV(rows: 3000, seed: 7), in: directory, name: "a.csv")
            let again = try generate(DemoContactsCSV(rows: 3000, seed: 7), in: directory, name: "b.csv")
            let other = try generate(DemoContactsCSV(rows: 3000, seed: 8), in: directory, name: "c.csv")
            #expect(first == again)
            #expect(first != other)
            #expect(first.count > 100_000)
        }
    }

    @Test func writesTheSameBytesToAFileHandle() async throws {
        try await withTemporaryDirectory { directory in
            let demo = DemoContactsCSV(rows: 500, seed: 11)
            let expected = try generate(demo, in: directory)
            let path = directory + "/handle.csv"
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try demo.write(to: handle)
            try handle.close()
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == expected)
        }
    }

    @Test func expectationMatchesAnIndependentTally() async throws {
        try await withTemporaryDirectory { directory in
            let demo = DemoContactsCSV(rows: 20_000, seed: 42)
            _ = try generate(demo, in: directory)
            let records = try records(at: directory + "/contacts.csv")
            #expect(records.count == 20_001)
            #expect(records.first?.fields == ["Email", "First Name", "Last Name", "Company Name", "Phone"])
            #expect(records.allSatisfy { $0.problem == nil && !$0.isBlank && $0.fields.count == 5 })
            #expect(records.map(\.row) == Array(1...20_001))

            var tally = DemoContactsCSV.Expectation(
                validUniqueEmails: 0, missingEmail: 0, invalidEmail: 0, duplicates: 0)
            var seen = Set<String>()
            for record in records.dropFirst() {
                let cell = CSVWriter.unneutralize(record.fields[0]).trimmingCharacters(in: .whitespacesAndNewlines)
                if cell.isEmpty {
                    tally.missingEmail += 1
                } else if !ContactEmail.isValid(cell) {
                    tally.invalidEmail += 1
                } else if seen.insert(ContactEmail.normalize(cell)).inserted {
                    tally.validUniqueEmails += 1
                } else {
                    tally.duplicates += 1
                }
            }
            #expect(demo.expectation() == tally)
            #expect((150...250).contains(tally.missingEmail))
            #expect((150...250).contains(tally.invalidEmail))
            #expect((60...140).contains(tally.duplicates))
        }
    }

    @Test func rowsAreNasty() async throws {
        try await withTemporaryDirectory { directory in
            _ = try generate(DemoContactsCSV(rows: 5000, seed: 1), in: directory)
            let rows = try records(at: directory + "/contacts.csv").dropFirst().map(\.fields)
            let cells = rows.flatMap { $0 }
            #expect(rows.contains { $0[0] != $0[0].lowercased() })
            #expect(rows.contains { $0[0].hasPrefix(" ") })
            #expect(rows.contains { $0[2] == "O'Brien" })
            #expect(cells.contains { $0.unicodeScalars.contains { $0.properties.isEmojiPresentation } })
            #expect(cells.contains { $0.contains("é") })
            #expect(rows.contains { $0[3].contains(",") && $0[3].contains("\"") })
            #expect(cells.contains { $0.contains("\r\n") })
            #expect(cells.contains { $0.contains("\n") && !$0.contains("\r") })
            #expect(rows.contains { $0[4].hasPrefix("+") })
            #expect(cells.contains { $0.hasPrefix("=") })
            #expect(cells.contains { $0.hasPrefix("@") })
        }
    }

    @Test func emptyDemoIsJustTheHeader() async throws {
        try await withTemporaryDirectory { directory in
            let data = try generate(DemoContactsCSV(rows: 0, seed: 1), in: directory)
            #expect(String(decoding: data, as: UTF8.self) == "Email,First Name,Last Name,Company Name,Phone\n")
            #expect(DemoContactsCSV(rows: 0, seed: 1).expectation().validUniqueEmails == 0)
        }
    }

    @Test func contactEmailRule() {
        #expect(ContactEmail.normalize("  Ann.Lee@Example.COM ") == "ann.lee@example.com")
        for valid in ["a@b.co", " ANN@EXAMPLE.COM ", "first.last.12@mail.example.co.uk", "x+tag@example.org"] {
            #expect(ContactEmail.isValid(valid), "\(valid)")
        }
        for invalid in [
            "", "not-an-email", "a@b", "john@", "@example.com", "jane doe@example.com", "a@@example.com",
            "a@example..com", "a@.com", "a@example.com.", "a@b@example.com",
        ] {
            #expect(!ContactEmail.isValid(invalid), "\(invalid)")
        }
    }
}
