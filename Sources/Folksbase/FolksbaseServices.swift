import Foundation
import SpoolEngine

/// The real parts folksbase's jobs use: the database, the mailer, the blob store and the services over them.
public struct FolksbaseServices: Sendable {
    /// Where the parts keep their data, and who mail comes from.
    ///
    /// By default everything is inside the spool, so one folder holds all state. The environment
    /// points blobs and mail at real servers: `SPOOL_BLOB_URL` (`s3://bucket/prefix`, or a
    /// `file://` directory; S3 credentials from the usual `AWS_*` variables), `SPOOL_SMTP_URL`
    /// (`smtp://` or `smtps://`, with `SPOOL_SMTP_USER` and `SPOOL_SMTP_PASSWORD`), `SPOOL_MAIL_FROM`.
    public struct Configuration: Sendable {
        public var databasePath: String
        public var outboxDirectory: String
        /// Where new blobs go: `file:///path` or `s3://bucket/prefix`.
        public var blobURL: String
        /// SMTP server for mail; nil writes `.eml` files to `outboxDirectory`.
        public var smtpURL: String?
        public var sender: EmailAddress
        /// The environment credentials are read from (AWS_*, SPOOL_SMTP_USER/PASSWORD).
        public var environment: [String: String]

        public init(spool: SpoolLayout, environment: [String: String] = ProcessInfo.processInfo.environment) {
            self.environment = environment
            databasePath = spool.root + "/folksbase.sqlite"
            outboxDirectory = spool.root + "/outbox"
            blobURL = URL(fileURLWithPath: spool.root + "/blobs").standardizedFileURL.absoluteString
            if let url = environment["SPOOL_BLOB_URL"], !url.isEmpty { blobURL = url }
            smtpURL = environment["SPOOL_SMTP_URL"].flatMap { $0.isEmpty ? nil : $0 }
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

    /// The parts the configuration names; by default the embedded ones: SQLite at
    /// `spool/folksbase.sqlite`, `.eml` files in `spool/outbox/`, blobs in `spool/blobs/`.
    public static func embedded(
        spool: SpoolLayout, writer: DurableWriter, clock: any SpoolClock = SystemClock(),
        configuration: Configuration? = nil
    ) throws -> FolksbaseServices {
        let configuration = configuration ?? Configuration(spool: spool)
        let sender = configuration.sender
        guard EmailMessage.isAddress(sender.address), !(sender.name ?? "").contains(where: \.isNewline) else {
            throw FolksbaseError(
                .invalidInput,
                "the sender \"\(sender.address)\" (--mail-from or SPOOL_MAIL_FROM) is not an email address; "
                    + "give one like 'Folksbase <no-reply@example.com>'")
        }
        let domain = sender.address.split(separator: "@").last.map(String.init) ?? "folksbase.test"
        let mailer: any Mailer =
            if let smtpURL = configuration.smtpURL {
                try SMTPMailer(
                    url: smtpURL, username: configuration.environment["SPOOL_SMTP_USER"],
                    password: configuration.environment["SPOOL_SMTP_PASSWORD"])
            } else {
                OutboxMailer(directory: configuration.outboxDirectory, writer: writer)
            }
        return FolksbaseServices(
            store: try SQLiteFolksbaseStore(
                path: configuration.databasePath, clock: clock,
                configuration: SQLiteConnection.Configuration(freezeGate: writer.gate)),
            mailer: mailer, blobs: try blobs(configuration, writer: writer),
            templates: EmailTemplates(sender: configuration.sender, messageIDDomain: domain), writer: writer,
            clock: clock)
    }

    /// New blobs go where `blobURL` says; any `file`, `http(s)` or `s3` URL can be read.
    private static func blobs(_ configuration: Configuration, writer: DurableWriter) throws -> BlobRouter {
        let url = configuration.blobURL
        let http = HTTPBlobSource()
        var sources: [String: any BlobSource] = ["http": http, "https": http]
        let s3Configuration = try? S3Configuration.fromEnvironment(configuration.environment)
        if let components = URLComponents(string: url), components.scheme == "s3", let bucket = components.host {
            let s3 = S3BlobStore(
                bucket: bucket, prefix: String(components.path.drop { $0 == "/" }),
                configuration: try S3Configuration.fromEnvironment(configuration.environment))
            return BlobRouter(destination: s3, destinationScheme: "s3", sources: sources)
        }
        guard let directory = URL(string: url), directory.isFileURL else {
            throw FolksbaseError(
                .invalidInput,
                "the blob URL \(url) (--blob-url or SPOOL_BLOB_URL) must be s3://bucket/prefix or a file:// directory")
        }
        if let s3Configuration {
            sources["s3"] = S3BlobStore(bucket: "", configuration: s3Configuration)
        }
        return BlobRouter(
            destination: DirectoryBlobStore(root: directory.path(percentEncoded: false), writer: writer),
            destinationScheme: "file", sources: sources)
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
