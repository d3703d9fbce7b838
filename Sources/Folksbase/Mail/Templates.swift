import Foundation
import SpoolEngine

/// The emails folksbase sends, each as plain text with a simple HTML alternative.
///
/// Every builder takes the sending step's idempotency key, from which the Message-ID is derived,
/// so a retried step produces the same message.
public struct EmailTemplates: Sendable {
    public var sender: EmailAddress
    /// The right-hand side of Message-IDs.
    public var messageIDDomain: String

    public init(
        sender: EmailAddress = EmailAddress("no-reply@folksbase.test", name: "Folksbase"),
        messageIDDomain: String = "folksbase.test"
    ) {
        self.sender = sender
        self.messageIDDomain = messageIDDomain
    }

    /// Welcomes a user who just signed up, naming their workspace when there is one.
    public func welcome(user: User, workspaceName: String?, idempotencyKey: String, date: Date) -> EmailMessage {
        let greeting = Self.greeting(user.name)
        let place = workspaceName.map { "Your workspace \"\($0)\" is ready." } ?? "Your account is ready."
        let text = """
            \(greeting)

            Welcome to Folksbase! \(place)
            Import a CSV of your contacts to get started, or add them one by one.

            The Folksbase team
            """
        let html = Self.page([
            Self.paragraph(Self.escape(greeting)),
            Self.paragraph("Welcome to Folksbase! " + Self.escape(place)),
            Self.paragraph("Import a CSV of your contacts to get started, or add them one by one."),
            Self.paragraph("The Folksbase team"),
        ])
        return message(
            to: user, subject: "Welcome to Folksbase, \(user.name.isEmpty ? user.email : user.name)", text: text,
            html: html, idempotencyKey: idempotencyKey, date: date)
    }

    /// A workspace's week in numbers, for one member.
    public func weeklyDigest(
        _ summary: WorkspaceSummary, recipient: User, idempotencyKey: String, date: Date
    ) -> EmailMessage {
        let window = "\(UTCTime.day(summary.since)) to \(UTCTime.day(summary.until)) (UTC)"
        let rows = [
            ("Contacts added", summary.contactsAdded),
            ("Imports completed", summary.importsCompleted),
            ("Imports failed", summary.importsFailed),
            ("Exports completed", summary.exportsCompleted),
            ("Exports failed", summary.exportsFailed),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        let table = rows.map { label, count in
            "  " + label + ":" + String(repeating: " ", count: width - label.count + 2) + String(count)
        }
        let text = """
            \(Self.greeting(recipient.name))

            Here is what happened in \(summary.workspaceName) from \(window):

            \(table.joined(separator: "\n"))

            The Folksbase team
            """
        let cells = rows.map { label, count in
            "<tr><td>\(Self.escape(label))</td><td style=\"text-align:right\">\(count)</td></tr>"
        }
        let html = Self.page([
            Self.paragraph(Self.escape(Self.greeting(recipient.name))),
            Self.paragraph(
                "Here is what happened in <strong>\(Self.escape(summary.workspaceName))</strong> from "
                    + Self.escape(window) + ":"),
            "<table>" + cells.joined() + "</table>",
            Self.paragraph("The Folksbase team"),
        ])
        return message(
            to: recipient, subject: "Your weekly digest for \(summary.workspaceName)", text: text, html: html,
            idempotencyKey: idempotencyKey, date: date)
    }

    /// An import finished: how many contacts were added, updated and skipped.
    public func importCompleted(
        _ record: ImportRecord, recipient: User, idempotencyKey: String, date: Date
    ) -> EmailMessage {
        let counts =
            "\(record.inserted ?? 0) added, \(record.updated ?? 0) updated, \(record.skipped ?? 0) skipped"
        let errors =
            (record.errorCount ?? 0) == 0
            ? "" : " \(record.errorCount!) row(s) had problems; see the import's error log."
        let text = """
            \(Self.greeting(recipient.name))

            Your import of \(record.fileName) is complete: \(counts).\(errors)

            The Folksbase team
            """
        let html = Self.page([
            Self.paragraph(Self.escape(Self.greeting(recipient.name))),
            Self.paragraph(
                "Your import of <strong>\(Self.escape(record.fileName))</strong> is complete: "
                    + Self.escape(counts) + "." + Self.escape(errors)),
            Self.paragraph("The Folksbase team"),
        ])
        return message(
            to: recipient, subject: "Import complete: \(record.fileName)", text: text, html: html,
            idempotencyKey: idempotencyKey, date: date)
    }

    /// An export is ready to download.
    public func exportCompleted(
        _ record: ExportRecord, recipient: User, idempotencyKey: String, date: Date
    ) -> EmailMessage {
        let url = record.blobUrl ?? ""
        let text = """
            \(Self.greeting(recipient.name))

            Your export of \(record.rowCount ?? 0) contacts is ready: \(url)

            The Folksbase team
            """
        let html = Self.page([
            Self.paragraph(Self.escape(Self.greeting(recipient.name))),
            Self.paragraph(
                "Your export of \(record.rowCount ?? 0) contacts is ready: "
                    + "<a href=\"\(Self.escape(url))\">\(Self.escape(url))</a>"),
            Self.paragraph("The Folksbase team"),
        ])
        return message(
            to: recipient, subject: "Your contacts export is ready", text: text, html: html,
            idempotencyKey: idempotencyKey, date: date)
    }

    /// An import or export failed for good.
    public func jobFailed(
        _ job: String, error: String, recipient: User, idempotencyKey: String, date: Date
    ) -> EmailMessage {
        let text = """
            \(Self.greeting(recipient.name))

            Your \(job) failed: \(error)

            The Folksbase team
            """
        let html = Self.page([
            Self.paragraph(Self.escape(Self.greeting(recipient.name))),
            Self.paragraph("Your \(Self.escape(job)) failed: " + Self.escape(error)),
            Self.paragraph("The Folksbase team"),
        ])
        return message(
            to: recipient, subject: "Your \(job) failed", text: text, html: html, idempotencyKey: idempotencyKey,
            date: date)
    }

    private func message(
        to user: User, subject: String, text: String, html: String, idempotencyKey: String, date: Date
    ) -> EmailMessage {
        EmailMessage(
            from: sender, to: [EmailAddress(user.email, name: user.name.isEmpty ? nil : user.name)],
            subject: Self.oneLine(subject), textBody: text + "\n", htmlBody: html,
            messageID: EmailMessage.messageID(idempotencyKey: idempotencyKey, domain: messageIDDomain), date: date)
    }

    /// A subject built from stored names (an import's file name) keeps to one line: a line break in
    /// a header would make the message invalid, and the email would never go.
    static func oneLine(_ text: String) -> String {
        String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    private static func greeting(_ name: String) -> String { name.isEmpty ? "Hi there," : "Hi \(name)," }

    /// A minimal HTML document around `blocks`, which are HTML already.
    private static func page(_ blocks: [String]) -> String {
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n"
            + blocks.map { $0 + "\n" }.joined() + "</body></html>\n"
    }

    private static func paragraph(_ html: String) -> String { "<p>" + html + "</p>" }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
