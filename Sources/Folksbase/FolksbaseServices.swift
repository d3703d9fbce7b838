import Foundation
import SpoolEngine

/// The real parts folksbase's jobs use: the database, the mailer, the blob store and the services over them.
public struct FolksbaseServices: Sendable {
    /// Where the embedded parts keep their files, and who mail comes from.
    public struct Configuration: Sendable {
        public var databasePath: String
        public var outboxDirectory: String
        public var blobDirectory: String
        public var sender: EmailAddress

        /// Everything inside the spool, so one folder holds all state; `SPOOL_MAIL_FROM` sets the sender.
        public init(spool: SpoolLayout, environment: [String: String] = ProcessInfo.processInfo.environment) {
            databasePath = spool.root + "/folksbase.sqlite"
            outboxDirectory = spool.root + "/outbox"
            blobDirectory = spool.root + "/blobs"
            sender = EmailAddress("no-reply@folksbase.test", name: "Folksbase")
            if let from = environment["SPOOL_MAIL_FROM"], !from.isEmpty { sender = EmailAddress(parsing: from) }
        }
    }

    public let store: any FolksbaseStore
    public let mailer: any Mailer
    public let blobs: any BlobStore
    public let writer: DurableWriter
    public let notifications: NotificationService
    public let chunker: CSVChunker
    public let importer: ContactImporter
    public let exporter: ContactExporter
    public let clock: any SpoolClock

    public init(
        store: any FolksbaseStore, mailer: any Mailer, blobs: any BlobStore, templates: EmailTemplates,
        writer: DurableWriter, clock: any SpoolClock
    ) {
        self.store = store
        self.mailer = mailer
        self.blobs = blobs
        self.writer = writer
        self.notifications = NotificationService(mailer: mailer, templates: templates, clock: clock)
        self.chunker = CSVChunker(writer: writer)
        self.importer = ContactImporter(store: store, writer: writer)
        self.exporter = ContactExporter(store: store, blobs: blobs, writer: writer)
        self.clock = clock
    }

    /// The embedded defaults: SQLite at `spool/folksbase.sqlite`, `.eml` files in `spool/outbox/`,
    /// blobs in `spool/blobs/`.
    public static func embedded(
        spool: SpoolLayout, writer: DurableWriter, clock: any SpoolClock = SystemClock(),
        configuration: Configuration? = nil
    ) throws -> FolksbaseServices {
        let configuration = configuration ?? Configuration(spool: spool)
        let domain = configuration.sender.address.split(separator: "@").last.map(String.init) ?? "folksbase.test"
        return FolksbaseServices(
            store: try SQLiteFolksbaseStore(path: configuration.databasePath, clock: clock),
            mailer: OutboxMailer(directory: configuration.outboxDirectory, writer: writer),
            blobs: DirectoryBlobStore(root: configuration.blobDirectory, writer: writer),
            templates: EmailTemplates(sender: configuration.sender, messageIDDomain: domain), writer: writer,
            clock: clock)
    }
}

extension EmailAddress {
    /// `Name <address>` or a bare address.
    public init(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let open = trimmed.lastIndex(of: "<"), trimmed.hasSuffix(">") {
            let name = trimmed[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: ["\""])
            let address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            self.init(address, name: name.isEmpty ? nil : name)
        } else {
            self.init(trimmed)
        }
    }
}
