import Foundation
import Testing

@testable import Folksbase

@Suite struct TemplatesTests {
    let templates = EmailTemplates()
    let user = User(
        id: "usr_1", email: "ada@example.com", name: "Ada <Admin>", createdAt: Date(timeIntervalSince1970: 0))

    @Test func welcomeNamesTheUserAndWorkspace() throws {
        let message = templates.welcome(
            user: user, workspaceName: "R&D", idempotencyKey: "run-1/send-welcome-email",
            date: .utc("2026-11-30T08:00:00Z"))
        #expect(message.to == [EmailAddress("ada@example.com", name: "Ada <Admin>")])
        #expect(message.subject == "Welcome to Folksbase, Ada <Admin>")
        #expect(message.textBody.contains("Hi Ada <Admin>,"))
        #expect(message.textBody.contains("Your workspace \"R&D\" is ready."))
        let html = try #require(message.htmlBody)
        #expect(html.contains("Hi Ada &lt;Admin&gt;,"))
        #expect(html.contains("&quot;R&amp;D&quot;"))
        #expect(!html.contains("<Admin>"))
        #expect(
            message.messageID
                == EmailMessage.messageID(idempotencyKey: "run-1/send-welcome-email", domain: "folksbase.test"))
        _ = try message.rendered()
    }

    @Test func digestShowsTheNumbers() throws {
        let summary = WorkspaceSummary(
            workspaceId: "ws_1", workspaceName: "Acme <Corp>", since: .utc("2026-11-23T08:00:00Z"),
            until: .utc("2026-11-30T08:00:00Z"), contactsAdded: 42, importsCompleted: 3, importsFailed: 1,
            exportsCompleted: 2, exportsFailed: 0)
        let message = templates.weeklyDigest(
            summary, recipient: user, idempotencyKey: "run-2/email-usr_1", date: .utc("2026-11-30T08:00:00Z"))
        #expect(message.subject == "Your weekly digest for Acme <Corp>")
        #expect(message.textBody.contains("from 2026-11-23 to 2026-11-30 (UTC)"))
        #expect(message.textBody.contains("Contacts added:     42"))
        #expect(message.textBody.contains("Imports failed:     1"))
        let html = try #require(message.htmlBody)
        #expect(html.contains("<strong>Acme &lt;Corp&gt;</strong>"))
        #expect(html.contains("<tr><td>Exports completed</td><td style=\"text-align:right\">2</td></tr>"))
        _ = try message.rendered()
    }

    /// A file name with a line break (from a percent-encoded URL) would break the Subject header.
    @Test func aSubjectBuiltFromAFileNameStaysOnOneLine() throws {
        let record = ImportRecord(
            id: "imp_1", workspaceId: "ws_1", userId: "usr_1", status: .completed, blobUrl: "file:///x",
            fileName: "contacts\r\nBcc: everyone@example.com.csv", createdAt: .utc("2026-11-30T08:00:00Z"))
        let message = templates.importCompleted(
            record, recipient: user, idempotencyKey: "run-3/notify", date: .utc("2026-11-30T08:00:00Z"))
        #expect(message.subject == "Import complete: contacts  Bcc: everyone@example.com.csv")
        let rendered = String(decoding: try message.rendered(), as: UTF8.self)
        let headers = try #require(rendered.components(separatedBy: "\r\n\r\n").first)
        #expect(!headers.components(separatedBy: "\r\n").contains { $0.hasPrefix("Bcc:") })
    }
}
