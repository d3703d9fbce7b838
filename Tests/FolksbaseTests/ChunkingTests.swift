import Foundation
import SpoolEngine
import Testing

@testable import Folksbase

@Suite struct ChunkingTests {
    static func contacts(_ count: Int) -> String {
        "Email,First Name\n" + (1...count).map { "user\($0)@example.com,User \($0)\n" }.joined()
    }

    @Test func aFileIsSplitIntoChunksThatKeepTheirSourceRowNumbers() async throws {
        try await withTemporaryDirectory { root in
            let source = root + "/in.csv"
            try Data((Self.contacts(3) + "\n" + "bad\"quote@x.com,Q\n" + "user5@example.com,Five\n").utf8)
                .write(to: URL(fileURLWithPath: source))
            var chunker = CSVChunker(writer: DurableWriter())
            chunker.rowsPerChunk = 2
            let plan = try await chunker.chunk(source, into: root + "/chunks")
            #expect(plan.header == ["Email", "First Name"])
            #expect(plan.totalRows == 5)
            #expect(plan.chunks.map(\.file) == ["000001.csv", "000002.csv", "000003.csv"])
            #expect(plan.chunks.map(\.rows) == [2, 1, 1])
            #expect(plan.chunks[1].problems.map(\.row) == [6], "row 5 is blank, row 6 is badly quoted")
            #expect(plan.chunks.map(\.firstRow) == [2, 4, 7])
            let second = try ChunkFile(path: root + "/chunks/000002.csv")
            #expect(second.header == ["Email", "First Name"])
            let row = try #require(try second.next())
            #expect(row.row == 4 && Array(row.fields) == ["user3@example.com", "User 3"])
            #expect(try second.next() == nil)
        }
    }

    @Test(arguments: [(20, 4 << 20), (3, 4 << 20), (20, 1)])
    func batchesOfAnySizeMakeTheSameChunksAndAFinalManifest(manifestEvery: Int, batchBytes: Int) async throws {
        try await withTemporaryDirectory { root in
            let source = root + "/in.csv"
            try Data(Self.contacts(95).utf8).write(to: URL(fileURLWithPath: source))
            var chunker = CSVChunker(writer: DurableWriter())
            chunker.rowsPerChunk = 10
            chunker.manifestEvery = manifestEvery
            chunker.batchBytes = batchBytes
            let plan = try await chunker.chunk(source, into: root + "/chunks")
            #expect(plan.chunks.map(\.file) == (1...10).map { String(format: "%06d.csv", $0) })
            #expect(plan.chunks.map(\.rows) == Array(repeating: 10, count: 9) + [5])
            #expect(try Disk.list(root + "/chunks").sorted() == plan.chunks.map(\.file) + ["manifest.json"])
            let manifest = try SpoolJSON.decoder.decode(
                ChunkPlan.self, from: Disk.read(root + "/chunks/manifest.json"))
            #expect(manifest == plan && manifest.complete)
            let last = try ChunkFile(path: root + "/chunks/000010.csv")
            #expect(try last.next()?.fields.first == "user91@example.com")
        }
    }

    @Test func aRetriedChunkingResumesAtTheRecordedOffsetNotRowOne() async throws {
        try await withTemporaryDirectory { root in
            // An interrupted run: the manifest after two chunks, the later chunk files lost.
            let interrupted = try await Self.interruptedChunking(rows: 55, in: root, keepingChunks: 2)
            // Scribble over the part already chunked: a chunker that starts at row 1 would see it.
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: interrupted.source))
            try handle.write(
                contentsOf: Data(repeating: UInt8(ascii: "#"), count: Int(interrupted.full.chunks[1].endOffset) - 1))
            try handle.close()

            try await Self.expectChunkingAgainMakesTheSameChunks(interrupted, in: root)
        }
    }

    /// A manifest is published with its batch of chunks, so a crash can keep it and lose the rename
    /// of a chunk it lists: that manifest is not trusted, and chunking starts again at row 1.
    @Test func aManifestListingAMissingChunkIsIgnoredAndChunkingStartsOver() async throws {
        try await withTemporaryDirectory { root in
            let interrupted = try await Self.interruptedChunking(rows: 35, in: root, keepingChunks: 1)
            try await Self.expectChunkingAgainMakesTheSameChunks(interrupted, in: root)
        }
    }

    struct InterruptedChunking {
        let chunker: CSVChunker
        let source: String
        let full: ChunkPlan
        let folder: String
    }

    /// A chunking of `rows` contacts, 10 a chunk, done whole in `root/first`, and the state an
    /// interrupted one left in `root/second`: a manifest listing two chunks, and the first `kept` of their files.
    private static func interruptedChunking(rows: Int, in root: String, keepingChunks kept: Int) async throws
        -> InterruptedChunking
    {
        let source = root + "/in.csv"
        try Data(contacts(rows).utf8).write(to: URL(fileURLWithPath: source))
        var chunker = CSVChunker(writer: DurableWriter())
        chunker.rowsPerChunk = 10
        chunker.manifestEvery = 2
        let full = try await chunker.chunk(source, into: root + "/first")

        let folder = root + "/second"
        try Disk.makeDirectory(folder)
        var partial = full
        partial.chunks = Array(full.chunks.prefix(2))
        partial.totalRows = 20
        partial.complete = false
        try Data(SpoolJSON.encoder.encode(partial)).write(to: URL(fileURLWithPath: folder + "/manifest.json"))
        for chunk in partial.chunks.prefix(kept) {
            try Data(contentsOf: URL(fileURLWithPath: root + "/first/" + chunk.file))
                .write(to: URL(fileURLWithPath: folder + "/" + chunk.file))
        }
        return InterruptedChunking(chunker: chunker, source: source, full: full, folder: folder)
    }

    /// Chunking the interrupted folder again gives the whole chunking's plan and files.
    private static func expectChunkingAgainMakesTheSameChunks(
        _ interrupted: InterruptedChunking, in root: String
    ) async throws {
        let again = try await interrupted.chunker.chunk(interrupted.source, into: interrupted.folder)
        #expect(again == interrupted.full)
        for chunk in interrupted.full.chunks {
            #expect(
                try Disk.read(interrupted.folder + "/" + chunk.file) == Disk.read(root + "/first/" + chunk.file))
        }
    }

    @Test func headerAliasesAndMappingsFindTheColumns() throws {
        let byAlias = try ContactColumns(header: ["E-Mail Address", "Given Name", "Surname", "Organisation", "Mobile"])
        #expect(byAlias.columns == [.email: 0, .firstName: 1, .lastName: 2, .company: 3, .phone: 4])
        let mapped = try ContactColumns(header: ["a", "b"], mapping: ["b": "email", "a": "firstName"])
        #expect(mapped.columns == [.email: 1, .firstName: 0])
        #expect(throws: NonRetriableError.self) { try ContactColumns(header: ["name", "phone"]) }
        #expect(throws: NonRetriableError.self) { try ContactColumns(header: ["a"], mapping: ["a": "shoeSize"]) }
        #expect(throws: NonRetriableError.self) { try ContactColumns(header: ["a"], mapping: ["zz": "email"]) }
    }

    @Test func aFileSeparatedByAnotherCharacterIsToldSo() throws {
        for (header, shown) in [("Email;First Name", #"";""#), ("Email\tFirst Name", #""\t""#)] {
            let error = #expect(throws: NonRetriableError.self) { try ContactColumns(header: [header]) }
            #expect(error?.message.contains("looks separated by \(shown)") == true, "\(String(describing: error))")
        }
    }

    @Test func aMappingLeavesTheFieldsItDoesNotNameToTheHeaderNames() throws {
        let workEmail = try ContactColumns(
            header: ["Work Email", "First Name", "Last Name", "Phone"], mapping: ["Work Email": "email"])
        #expect(workEmail.columns == [.email: 0, .firstName: 1, .lastName: 2, .phone: 3])
        let given = try ContactColumns(header: ["Email", "Given"], mapping: ["Given": "firstName"])
        #expect(given.columns == [.email: 0, .firstName: 1])
        // A mapped column is not also read under its own name.
        let moved = try ContactColumns(header: ["Email", "Phone", "Mobile"], mapping: ["Phone": "company"])
        #expect(moved.columns == [.email: 0, .company: 1, .phone: 2])
    }

    @Test func aMappingNamesColumnsAsTheHeaderShowsThemAndGivesEachFieldOneColumn() throws {
        let spaced = try ContactColumns(header: ["E-mail Address ", "Name"], mapping: ["E-mail Address ": "email"])
        #expect(spaced.columns == [.email: 0])
        let twice = ["Work": "email", "Home": "email"]
        #expect(ContactColumns.problem(inMapping: twice)?.contains("both column \"Home\" and column \"Work\"") == true)
        #expect(throws: NonRetriableError.self) { try ContactColumns(header: ["Work", "Home"], mapping: twice) }
        #expect(ContactColumns.problem(inMapping: ["Work": "email", "Home": "phone"]) == nil)
    }

    @Test func aRecordJustUnderTheLimitReadsBackFromItsChunk() async throws {
        try await withTemporaryDirectory { root in
            let source = root + "/in.csv"
            let prefix = "big@example.com,"
            let longest = prefix + String(repeating: "A", count: CSVReader.Configuration().maxRecordSize - prefix.count)
            try Data(("email,company\n" + longest + "\nok@example.com,Acme\n").utf8)
                .write(to: URL(fileURLWithPath: source))
            let plan = try await CSVChunker(writer: DurableWriter()).chunk(source, into: root + "/chunks")
            #expect(plan.chunks.map(\.rows) == [2])
            let chunk = try ChunkFile(path: root + "/chunks/000001.csv")
            #expect(try chunk.next()?.fields.last?.count == longest.count - prefix.count)
            #expect(try chunk.next()?.row == 3)
        }
    }

    @Test func theMalformedRecordsKeptAreTheFirstInTheFile() async throws {
        try await withTemporaryDirectory { root in
            let source = root + "/in.csv"
            let malformed = CSVChunker.problemLimit + 200
            try Data(("email,name\n" + (1...malformed).map { "bad\($0)@x.com,a\"b\n" }.joined()).utf8)
                .write(to: URL(fileURLWithPath: source))
            var chunker = CSVChunker(writer: DurableWriter())
            chunker.rowsPerChunk = 100
            let plan = try await chunker.chunk(source, into: root + "/chunks")
            #expect(plan.chunks.reduce(0) { $0 + $1.problemCount } == malformed)
            #expect(plan.chunks.flatMap(\.problems).map(\.row) == Array(2...(CSVChunker.problemLimit + 1)))
        }
    }

    @Test func recordsBecomeTrimmedContactsOrRowErrors() throws {
        let columns = try ContactColumns(header: ["Email", "First Name", "Phone"])
        func map(_ fields: [String]) -> Result<ContactRow, RowError> { columns.contact(from: fields[...], row: 9) }
        let good = try map(["  ANN@Example.COM ", " Ann ", "'+1 555"]).get()
        #expect(good.contact == NewContact(email: "ann@example.com", firstName: "Ann", phone: "+1 555"))
        #expect(good.row == 9)
        #expect(try map(["ann@example.com"]).get().contact.firstName == nil, "short rows are fine")
        func reason(_ fields: [String]) -> String? {
            if case .failure(let error) = map(fields) { return error.reason }
            return nil
        }
        #expect(reason(["", "x", ""]) == "missing email")
        #expect(reason(["nope", "x", ""])?.hasPrefix("invalid email") == true)
        #expect(reason(["a@b.co", "x", "", "extra"]) == "4 fields, but the header has 3")
        #expect(reason(["a@b.co", String(repeating: "x", count: 1001), ""])?.contains("longer than") == true)
        #expect(reason(["a@b.co", "A\u{0}nn", ""]) == "firstName contains a NUL character")
        for invisible in ["ann@example.com\u{200B}", "a\u{0}nn@example.com", "\u{FEFF}ann@example.com"] {
            #expect(reason([invisible, "", ""])?.hasPrefix("invalid email") == true, "\(invisible.debugDescription)")
        }
    }

    @Test func whiteSpaceIsUnicodesOnBothPathsOfTheTrim() throws {
        let columns = try ContactColumns(header: ["Email", "First Name", "Company"])
        func contact(_ fields: [String]) throws -> NewContact {
            try columns.contact(from: fields[...], row: 2).get().contact
        }
        // Unicode white space at either end (no-break space, ideographic space, NEL) is trimmed; other
        // non-ASCII letters and ASCII control characters that are not white space stay.
        #expect(
            try contact(["\u{00A0}a@b.co\u{3000}", "\u{0085}Zoë", "\u{1}Acme\t"])
                == NewContact(email: "a@b.co", firstName: "Zoë", company: "\u{1}Acme"))
        #expect(
            try contact(["a@b.co", "Ünal", "Ørsted A/S"])
                == NewContact(email: "a@b.co", firstName: "Ünal", company: "Ørsted A/S"))
        #expect(try contact(["a@b.co", "\u{2003}", " \u{00A0}"]) == NewContact(email: "a@b.co"))
        for spaced in ["a b@c.co", "a\u{00A0}b@c.co", "a@c\u{2028}d.co", "<a@c.co>"] {
            #expect(throws: RowError.self, "\(spaced)") { try contact([spaced, "", ""]) }
        }
    }

    @Test func recordIDsSortByCreationTime() {
        let start = Date(timeIntervalSince1970: 1_795_939_200)
        let ids = (0..<50).map { RecordID.make(RecordID.contact, at: start.addingTimeInterval(Double($0) * 0.002)) }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.hasPrefix("ct_") && $0.utf8.count == 3 + 19 })
        // Ids made in the same millisecond differ in their random part.
        let same = (0..<1000).map { _ in RecordID.make(RecordID.user, at: start) }
        #expect(Set(same).count == same.count)
        #expect(Set(same.map { $0.prefix(4 + 9) }).count == 1)
        let later = RecordID.make(RecordID.user, at: start.addingTimeInterval(86_400 * 365 * 100))
        #expect(same.allSatisfy { $0 < later })
    }
}
