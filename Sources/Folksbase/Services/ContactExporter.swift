import Foundation
import SpoolEngine

/// Writes a workspace's contacts as CSV part files, one keyset page each, and uploads them as one object.
public struct ContactExporter: Sendable {
    /// What one part holds: its file, its rows, and the keyset cursor after it.
    public struct Part: Codable, Sendable, Hashable {
        public var file: String
        public var rows: Int
        public var lastEmail: String?
    }

    public static let header = ["Email", "First Name", "Last Name", "Company Name", "Phone"]
    public var rowsPerPart = 10_000
    let store: any FolksbaseStore
    let blobs: any BlobStore
    let writer: DurableWriter

    public init(store: any FolksbaseStore, blobs: any BlobStore, writer: DurableWriter) {
        self.store = store
        self.blobs = blobs
        self.writer = writer
    }

    /// Writes part `number` (1-based; the first carries the header) from the contacts after `afterEmail`.
    public func writePart(_ number: Int, workspaceID: String, afterEmail: String?, folder: String) async throws -> Part
    {
        let contacts = try await store.contactsPage(
            workspaceID: workspaceID, afterEmail: afterEmail, limit: rowsPerPart)
        var text = number == 1 ? CSVWriter.line(Self.header) : ""
        for contact in contacts {
            text += CSVWriter.line(
                [
                    contact.email, contact.firstName ?? "", contact.lastName ?? "", contact.company ?? "",
                    contact.phone ?? "",
                ],
                neutralizingFormulas: true)
        }
        let file = String(format: "%06d.csv", number)
        try await writer.makeDirectory(folder)
        try await writer.publish(Data(text.utf8), at: folder + "/" + file)
        return Part(file: file, rows: contacts.count, lastEmail: contacts.last?.email ?? afterEmail)
    }

    /// Uploads the parts, in order, as one CSV object; returns its URL.
    public func upload(_ parts: [Part], folder: String, exportID: String) async throws -> String {
        try await blobs.put(
            concatenating: parts.map { folder + "/" + $0.file },
            key: BlobKey(sanitizing: ["exports", exportID + ".csv"]))
    }
}
