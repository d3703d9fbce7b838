import Foundation
import SpoolEngine
import Testing

@testable import Folksbase

@Suite struct ContactExporterTests {
    /// A store with `count` contacts in one workspace, created a millisecond apart, and an exporter of `rowsPerPart`.
    private func setUp(_ directory: String, count: Int, rowsPerPart: Int) async throws
        -> (SQLiteFolksbaseStore, ContactExporter, workspaceID: String)
    {
        let clock = ManualClock()
        let store = try makeStore(in: directory, clock: clock)
        let workspace = try await store.createWorkspace(name: "Acme")
        for number in 1...count {
            clock.set(clock.now().addingTimeInterval(0.001))
            _ = try await store.addContact(NewContact(email: "c\(number)@example.com"), workspaceID: workspace.id)
        }
        var exporter = ContactExporter(
            store: store, blobs: DirectoryBlobStore(root: directory + "/blobs", writer: DurableWriter()),
            writer: DurableWriter())
        exporter.rowsPerPart = rowsPerPart
        return (store, exporter, workspace.id)
    }

    private func emails(in path: String) throws -> [String] {
        String(decoding: try Disk.read(path), as: UTF8.self).split(separator: "\n").map {
            String($0.prefix { $0 != "," })
        }
    }

    @Test func partsHoldEveryContactOnceInCreationOrder() async throws {
        try await withTemporaryDirectory { directory in
            let (_, exporter, workspaceID) = try await setUp(directory, count: 10, rowsPerPart: 4)
            let folder = directory + "/parts"
            var parts: [ContactExporter.Part] = []
            repeat {
                parts.append(
                    try await exporter.writePart(
                        parts.count + 1, workspaceID: workspaceID, after: parts.last?.cursor, folder: folder))
            } while parts.last!.more
            #expect(parts.map(\.rows) == [4, 4, 2])
            let written = try parts.flatMap { try emails(in: folder + "/" + $0.file) }
            #expect(written == ["Email"] + (1...10).map { "c\($0)@example.com" })
        }
    }

    @Test func theNextPartTakesThePageReadAheadAndARetriedOneReadsAgain() async throws {
        try await withTemporaryDirectory { directory in
            let (store, exporter, workspaceID) = try await setUp(directory, count: 6, rowsPerPart: 3)
            let folder = directory + "/parts"
            let first = try await exporter.writePart(1, workspaceID: workspaceID, after: nil, folder: folder)
            // The second page was read along with the first part: a contact deleted now is still in part 2.
            await exporter.readAhead.settle()
            try await store.connection.transaction { db in
                try db.execute("DELETE FROM contacts WHERE email = 'c5@example.com'")
            }
            let second = try await exporter.writePart(2, workspaceID: workspaceID, after: first.cursor, folder: folder)
            #expect(
                try emails(in: folder + "/" + second.file) == ["c4@example.com", "c5@example.com", "c6@example.com"])

            // Part 2 again (a retried step) finds nothing read ahead and reads the page as it is now.
            let retried = try await exporter.writePart(2, workspaceID: workspaceID, after: first.cursor, folder: folder)
            #expect(try emails(in: folder + "/" + retried.file) == ["c4@example.com", "c6@example.com"])
            #expect(retried.rows == 2)
        }
    }
}
