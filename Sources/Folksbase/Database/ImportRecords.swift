import Foundation

/// Where an import or export job stands.
public enum JobStatus: String, Codable, Sendable, Hashable {
    case processing
    case completed
    case failed
}

/// Why one CSV row was not imported; `row` is the row number the importer gave it.
public struct RowError: Codable, Sendable, Hashable {
    public var row: Int
    public var reason: String
    public var email: String?

    public init(row: Int, reason: String, email: String? = nil) {
        self.row = row
        self.reason = reason
        self.email = email
    }
}

/// One CSV row ready to upsert: validated, with its email normalized (`StoredEmail.normalize`) and
/// empty cells as nil, by the caller.
public struct ContactRow: Sendable, Hashable {
    public var row: Int
    public var contact: NewContact

    public init(row: Int, contact: NewContact) {
        self.row = row
        self.contact = contact
    }
}

/// What one chunk of an import did to the workspace's contacts.
public struct ChunkResult: Codable, Sendable, Hashable {
    public var inserted: Int
    public var updated: Int
    /// Invalid rows plus duplicates of an earlier row of the same import.
    public var skipped: Int
    /// The skipped rows' errors, sorted by row; at most `SQLiteFolksbaseStore.chunkErrorLimit`.
    public var errors: [RowError]

    public init(inserted: Int = 0, updated: Int = 0, skipped: Int = 0, errors: [RowError] = []) {
        self.inserted = inserted
        self.updated = updated
        self.skipped = skipped
        self.errors = errors
    }
}

/// A CSV import of contacts into a workspace.
public struct ImportRecord: Codable, Sendable, Hashable {
    public var id: String
    public var workspaceId: String
    public var userId: String
    public var status: JobStatus
    public var blobUrl: String
    public var fileName: String
    /// CSV header → field name (`email`, `firstName`, `lastName`, `company`, `phone`); nil to match headers by name.
    public var columnMapping: [String: String]?
    /// The counts are nil until the import completes.
    public var totalRows: Int?
    public var inserted: Int?
    public var updated: Int?
    public var skipped: Int?
    /// Row errors as the import job kept them (it may cap them); `errorCount` counts them all.
    public var errorLog: [RowError]
    public var errorCount: Int?
    /// Why the import failed.
    public var error: String?
    public var createdAt: Date
    /// When the import completed or failed.
    public var completedAt: Date?

    public init(
        id: String, workspaceId: String, userId: String, status: JobStatus, blobUrl: String, fileName: String,
        columnMapping: [String: String]? = nil, totalRows: Int? = nil, inserted: Int? = nil, updated: Int? = nil,
        skipped: Int? = nil, errorLog: [RowError] = [], errorCount: Int? = nil, error: String? = nil, createdAt: Date,
        completedAt: Date? = nil
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.userId = userId
        self.status = status
        self.blobUrl = blobUrl
        self.fileName = fileName
        self.columnMapping = columnMapping
        self.totalRows = totalRows
        self.inserted = inserted
        self.updated = updated
        self.skipped = skipped
        self.errorLog = errorLog
        self.errorCount = errorCount
        self.error = error
        self.createdAt = createdAt
        self.completedAt = completedAt
    }
}

/// A CSV export of a workspace's contacts.
public struct ExportRecord: Codable, Sendable, Hashable {
    public var id: String
    public var workspaceId: String
    public var userId: String
    public var status: JobStatus
    /// Where the CSV was uploaded; nil until the export completes.
    public var blobUrl: String?
    /// Nil until the export completes.
    public var rowCount: Int?
    /// Why the export failed.
    public var error: String?
    public var createdAt: Date
    /// When the export completed or failed.
    public var completedAt: Date?

    public init(
        id: String, workspaceId: String, userId: String, status: JobStatus, blobUrl: String? = nil,
        rowCount: Int? = nil, error: String? = nil, createdAt: Date, completedAt: Date? = nil
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.userId = userId
        self.status = status
        self.blobUrl = blobUrl
        self.rowCount = rowCount
        self.error = error
        self.createdAt = createdAt
        self.completedAt = completedAt
    }
}
