import Foundation

/// Folksbase's records: users, workspaces and their settings, contacts, and what the digest reads.
///
/// SQLite (`SQLiteFolksbaseStore`) is the embedded default; PostgreSQL implements the same
/// protocol in deployments. Emails are compared trimmed and lower-cased.
public protocol FolksbaseStore: Sendable {
    func createUser(email: String, name: String) async throws -> User
    func user(id: String) async throws -> User?
    func user(email: String) async throws -> User?

    /// Creates a workspace with default settings (everything on).
    func createWorkspace(name: String) async throws -> Workspace
    func workspace(id: String) async throws -> Workspace?
    /// Adds `userID` to the workspace, or changes their role if they are a member already.
    func addMember(workspaceID: String, userID: String, role: WorkspaceRole) async throws
    /// The workspace's settings; the defaults when none were ever stored.
    func settings(workspaceID: String) async throws -> WorkspaceSettings
    func setSettings(_ settings: WorkspaceSettings) async throws

    /// Adds a contact; a second contact with the same email in one workspace fails with `.constraint`.
    func addContact(_ contact: NewContact, workspaceID: String) async throws -> Contact

    /// Workspaces whose weekly digest is on, oldest first.
    func digestWorkspaces() async throws -> [Workspace]
    /// What happened in a workspace in `since ..< until`.
    func workspaceSummary(workspaceID: String, since: Date, until: Date) async throws -> WorkspaceSummary
    /// The members of a workspace, who receive its digest, by email.
    func digestRecipients(workspaceID: String) async throws -> [User]

    /// Creates the demo workspace and its owner once; later calls return the same ids.
    func seedDemo() async throws -> DemoSeed

    // MARK: Imports

    /// Records a CSV import as `processing`; the workspace and the user must exist (`.notFound`).
    func createImport(
        workspaceID: String, userID: String, blobURL: String, fileName: String, columnMapping: [String: String]?
    ) async throws -> ImportRecord
    func importRecord(id: String) async throws -> ImportRecord?
    /// Imports newest first, of one workspace or of all when `workspaceID` is nil.
    func imports(workspaceID: String?) async throws -> [ImportRecord]
    /// Applies one chunk exactly once: upserts `rows` by (workspace, email) atomically, records the result
    /// under (importID, chunk) in the same transaction, and returns it once committed; a second call for
    /// the same (importID, chunk) returns the recorded result and writes nothing. Chunks applied at
    /// the same moment may share a transaction, each all or nothing.
    ///
    /// A row whose email an earlier row of the same import already wrote is skipped as `duplicate of row N`;
    /// `invalid` rows count as skipped. A blank (nil) field leaves the stored value as it is. Chunks
    /// are applied in the order they are queued; `whenQueued` is called once this one is.
    func applyImportChunk(
        importID: String, workspaceID: String, chunk: Int, rows: [ContactRow], invalid: [RowError],
        whenQueued: @escaping @Sendable () -> Void
    ) async throws -> ChunkResult
    /// Marks a processing (or failed, when its run was retried) import completed with its final counts.
    /// Repeating it with the same numbers returns the record; other numbers fail with `.constraint`.
    func completeImport(
        id: String, totalRows: Int, inserted: Int, updated: Int, skipped: Int, errorLog: [RowError], errorCount: Int
    ) async throws -> ImportRecord
    /// Marks an import failed with `error`; a completed import stays completed and is returned unchanged.
    func failImport(id: String, error: String) async throws -> ImportRecord

    // MARK: Exports

    /// Records a CSV export as `processing`; the workspace and the user must exist (`.notFound`).
    func createExport(workspaceID: String, userID: String) async throws -> ExportRecord
    func exportRecord(id: String) async throws -> ExportRecord?
    /// Exports newest first, of one workspace or of all when `workspaceID` is nil.
    func exports(workspaceID: String?) async throws -> [ExportRecord]
    /// Marks a processing (or failed, when its run was retried) export completed; idempotent like `completeImport`.
    func completeExport(id: String, blobURL: String, rowCount: Int) async throws -> ExportRecord
    /// Marks an export failed with `error`; a completed export stays completed and is returned unchanged.
    func failExport(id: String, error: String) async throws -> ExportRecord

    /// The exported fields of `limit` contacts of a workspace, oldest first, after `cursor` (keyset
    /// pagination: contacts added meanwhile come in later pages, none is skipped or repeated). A page
    /// read in parts may hold a few more or fewer when contacts change meanwhile; its `mayHaveMore`,
    /// not its size, says whether another page follows.
    func contactFieldsPage(workspaceID: String, after cursor: ContactCursor?, limit: Int) async throws
        -> ContactFieldsPage
    func contactCount(workspaceID: String) async throws -> Int
}

extension FolksbaseStore {
    /// Applies a chunk that keeps no order with others.
    public func applyImportChunk(
        importID: String, workspaceID: String, chunk: Int, rows: [ContactRow], invalid: [RowError]
    ) async throws -> ChunkResult {
        try await applyImportChunk(
            importID: importID, workspaceID: workspaceID, chunk: chunk, rows: rows, invalid: invalid, whenQueued: {})
    }
}

public struct User: Codable, Sendable, Hashable {
    public var id: String
    public var email: String
    public var name: String
    public var createdAt: Date

    public init(id: String, email: String, name: String, createdAt: Date) {
        self.id = id
        self.email = email
        self.name = name
        self.createdAt = createdAt
    }
}

public struct Workspace: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var createdAt: Date

    public init(id: String, name: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

public enum WorkspaceRole: String, Codable, Sendable, Hashable {
    case owner
    case admin
    case member
}

public struct WorkspaceSettings: Codable, Sendable, Hashable {
    public var workspaceId: String
    public var notifyOnImport: Bool
    public var notifyOnExport: Bool
    public var weeklyDigest: Bool

    public init(
        workspaceId: String, notifyOnImport: Bool = true, notifyOnExport: Bool = true, weeklyDigest: Bool = true
    ) {
        self.workspaceId = workspaceId
        self.notifyOnImport = notifyOnImport
        self.notifyOnExport = notifyOnExport
        self.weeklyDigest = weeklyDigest
    }
}

/// A contact to add; the store assigns its id and times.
public struct NewContact: Codable, Sendable, Hashable {
    public var email: String
    public var firstName: String?
    public var lastName: String?
    public var company: String?
    public var phone: String?

    public init(
        email: String, firstName: String? = nil, lastName: String? = nil, company: String? = nil,
        phone: String? = nil
    ) {
        self.email = email
        self.firstName = firstName
        self.lastName = lastName
        self.company = company
        self.phone = phone
    }
}

public struct Contact: Codable, Sendable, Hashable {
    public var id: String
    public var workspaceId: String
    public var email: String
    public var firstName: String?
    public var lastName: String?
    public var company: String?
    public var phone: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, workspaceId: String, email: String, firstName: String? = nil, lastName: String? = nil,
        company: String? = nil, phone: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.email = email
        self.firstName = firstName
        self.lastName = lastName
        self.company = company
        self.phone = phone
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A workspace's activity in a window, for the weekly digest.
public struct WorkspaceSummary: Codable, Sendable, Hashable {
    public var workspaceId: String
    public var workspaceName: String
    /// Start of the window, inclusive.
    public var since: Date
    /// End of the window, exclusive.
    public var until: Date
    public var contactsAdded: Int
    public var importsCompleted: Int
    public var importsFailed: Int
    public var exportsCompleted: Int
    public var exportsFailed: Int

    public init(
        workspaceId: String, workspaceName: String, since: Date, until: Date, contactsAdded: Int = 0,
        importsCompleted: Int = 0, importsFailed: Int = 0, exportsCompleted: Int = 0, exportsFailed: Int = 0
    ) {
        self.workspaceId = workspaceId
        self.workspaceName = workspaceName
        self.since = since
        self.until = until
        self.contactsAdded = contactsAdded
        self.importsCompleted = importsCompleted
        self.importsFailed = importsFailed
        self.exportsCompleted = exportsCompleted
        self.exportsFailed = exportsFailed
    }
}

/// The demo workspace and its owner, as `{"workspaceId": …, "userId": …}`.
public struct DemoSeed: Codable, Sendable, Hashable {
    public var workspaceId: String
    public var userId: String

    public init(workspaceId: String, userId: String) {
        self.workspaceId = workspaceId
        self.userId = userId
    }
}

/// Record ids: a type prefix, `_`, the creation time (milliseconds since 1970, 9 base-36
/// characters) and 10 random base-36 characters (about 51 bits), so ids sort by creation and a
/// new row's id lands at the end of the primary key's index instead of at a random page.
///
/// For example `ct_miaz3c4k0q2m8c1v7bz`, `usr_…`, `ws_…`, `imp_…`, `exp_…`.
public enum RecordID {
    public static let user = "usr"
    public static let workspace = "ws"
    public static let contact = "ct"
    public static let importJob = "imp"
    public static let exportJob = "exp"

    private static let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    public static func make(_ prefix: String, at date: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(prefix, at: date, using: &generator)
    }

    public static func make(
        _ prefix: String, at date: Date = Date(), using generator: inout some RandomNumberGenerator
    ) -> String {
        var id = Array(prefix.utf8)
        id.reserveCapacity(id.count + 20)
        id.append(UInt8(ascii: "_"))
        let milliseconds = UInt64(clamping: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
        append(milliseconds, digits: 9, to: &id)
        append(UInt64.random(in: 0..<3_656_158_440_062_976, using: &generator), digits: 10, to: &id)  // 36^10
        return String(decoding: id, as: UTF8.self)
    }

    /// `value` in base 36, most significant digit first, in exactly `count` digits.
    private static func append(_ value: UInt64, digits count: Int, to id: inout [UInt8]) {
        var value = value
        let start = id.count
        id.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        for position in (start..<id.count).reversed() {
            id[position] = digits[Int(value % 36)]
            value /= 36
        }
    }
}

/// The system's random numbers fetched 4 KiB at a time (`arc4random_buf`: one `getrandom` call)
/// instead of 8 bytes a call, for an import that makes an id for every row.
struct BufferedSystemRandomNumberGenerator: RandomNumberGenerator {
    private var buffer = [UInt64](repeating: 0, count: 512)
    private var position = 512

    mutating func next() -> UInt64 {
        if position == buffer.count {
            buffer.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            position = 0
        }
        defer { position += 1 }
        return buffer[position]
    }
}

/// How stores keep email addresses: trimmed and lower-cased, so equality is the uniqueness rule.
enum StoredEmail {
    static func normalize(_ email: String) -> String {
        email.trimmingWhitespace().lowercased()
    }

    /// Whether a normalized email looks like `local@domain`: one `@`, both sides non-empty, no spaces.
    static func isPlausible(_ email: String) -> Bool {
        let bytes = email.utf8
        let at = UInt8(ascii: "@")
        guard bytes.count <= 320, let separator = bytes.firstIndex(of: at), separator != bytes.startIndex else {
            return false
        }
        let domain = bytes[bytes.index(after: separator)...]
        guard !domain.isEmpty && !domain.contains(at) else { return false }
        var isASCII = true
        for byte in bytes {
            if byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte <= 0x20 || byte == 0x7F {
                return false
            }
            if byte >= 0x80 { isASCII = false }
        }
        // Invisible characters (a zero-width space) would make a second contact of one address.
        return isASCII
            || !email.unicodeScalars.contains { $0.isWhiteSpace || $0.properties.generalCategory == .format }
    }
}
