import ArgumentParser
import Folksbase
import SpoolEngine

/// Where blobs go and how mail leaves; flags win over the environment, the defaults are embedded.
struct ServicesOptions: ParsableArguments {
    @Option(
        help: "Where new blobs go: s3://bucket/prefix or a file:// directory ($SPOOL_BLOB_URL; default spool/blobs).")
    var blobURL: String?

    @Option(
        help:
            "Send mail over SMTP: smtp://host:587 or smtps://host:465 ($SPOOL_SMTP_URL; default: .eml files in spool/outbox)."
    )
    var smtpURL: String?

    @Option(
        help: ArgumentHelp(
            "The sender of every email, e.g. 'Folksbase <no-reply@example.com>' "
                + "($SPOOL_MAIL_FROM; default: Folksbase <no-reply@folksbase.test>)."))
    var mailFrom: String?

    func services(_ layout: SpoolLayout, writer: DurableWriter? = nil) throws -> FolksbaseServices {
        let writer = writer ?? DurableWriter(layout: layout)
        var configuration = FolksbaseServices.Configuration(spool: layout)
        if let blobURL { configuration.blobURL = blobURL }
        if let smtpURL { configuration.smtpURL = smtpURL }
        if let mailFrom { configuration.sender = EmailAddress(parsing: mailFrom) }
        do {
            return try FolksbaseServices.embedded(spool: layout, writer: writer, configuration: configuration)
        } catch let error as FolksbaseError where error.code == .invalidInput {
            throw ValidationError(error.message)
        }
    }
}
