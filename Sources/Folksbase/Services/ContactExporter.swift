import Foundation
import SpoolEngine

/// Writes a workspace's contacts as CSV part files, one keyset page each, and uploads them as one object.
public struct ContactExporter: Sendable {
    /// What one part holds: its file, its rows, the keyset cursor after it, and whether a part may follow.
    public struct Part: Codable, Sendable, Hashable {
        public var file: String
        public var rows: Int
        public var cursor: ContactCursor?
        public var more: Bool
    }

    public static let header = ["Email", "First Name", "Last Name", "Company Name", "Phone"]
    public var rowsPerPart = 25_000
    let store: any FolksbaseStore
    let blobs: any BlobStore
    let writer: DurableWriter
    let readAhead = PageReadAhead()

    public init(store: any FolksbaseStore, blobs: any BlobStore, writer: DurableWriter) {
        self.store = store
        self.blobs = blobs
        self.writer = writer
    }

    /// Writes part `number` (1-based; the first carries the header) from the contacts after `cursor`.
    /// A page that may have more after it starts the read of the next one, which the next part takes.
    public func writePart(_ number: Int, workspaceID: String, after cursor: ContactCursor?, folder: String)
        async throws -> Part
    {
        let page = try await page(workspaceID: workspaceID, after: cursor)
        if page.mayHaveMore, let next = page.cursor {
            await readAhead.start(.init(workspaceID: workspaceID, cursor: next, limit: rowsPerPart)) {
                [store, rowsPerPart] in
                try await store.contactFieldsPage(workspaceID: workspaceID, after: next, limit: rowsPerPart)
            }
        }
        var csv: [UInt8] = []
        // Room for the fields, their commas and line ends, and some quoting.
        csv.reserveCapacity(page.byteCount + page.count * (ContactFieldsPage.fieldCount + 8) + 64)
        if number == 1 { CSVWriter.appendLine(Self.header, to: &csv) }
        for row in 0..<page.count {
            page.forEachField(ofRow: row) { index, field in
                if index > 0 { csv.append(UInt8(ascii: ",")) }
                CSVWriter.appendField(field, neutralizingFormulas: true, to: &csv)
            }
            csv.append(UInt8(ascii: "\n"))
        }
        let file = String(format: "%06d.csv", number)
        try await writer.makeDirectory(folder)
        try await writer.publish(csv, at: folder + "/" + file)
        return Part(file: file, rows: page.count, cursor: page.cursor ?? cursor, more: page.mayHaveMore)
    }

    private func page(workspaceID: String, after cursor: ContactCursor?) async throws -> ContactFieldsPage {
        if let cursor,
            let page = await readAhead.take(.init(workspaceID: workspaceID, cursor: cursor, limit: rowsPerPart))
        {
            return page
        }
        return try await store.contactFieldsPage(workspaceID: workspaceID, after: cursor, limit: rowsPerPart)
    }

    /// Uploads the parts, in order, as one CSV object; returns its URL.
    public func upload(_ parts: [Part], folder: String, exportID: String) async throws -> String {
        try await blobs.put(
            concatenating: parts.map { folder + "/" + $0.file },
            key: BlobKey(sanitizing: ["exports", exportID + ".csv"]))
    }
}
