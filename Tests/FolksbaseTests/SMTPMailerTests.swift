import CurlClient
import Foundation
import TestServers
import Testing

@testable import Folksbase

/// The SMTP mailer against a real server on loopback (Tests/Servers/smtp_sink.py, aiosmtpd).
@Suite(.enabled(if: LocalServer.hasPythonModule("aiosmtpd"), "needs Python's aiosmtpd"))
struct SMTPMailerTests {
    let maildir: String

    init() throws {
        maildir = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: maildir, withIntermediateDirectories: true)
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Servers/smtp_sink.py").path

    func sink(_ options: [String] = []) throws -> LocalServer {
        try LocalServer(["python3", Self.script, "{port}", maildir] + options)
    }

    /// The stored messages, in arrival order.
    func stored() throws -> [Data] {
        let names = try FileManager.default.contentsOfDirectory(atPath: maildir).filter { $0.hasSuffix(".eml") }
        return try names.sorted { Int($0.dropLast(4))! < Int($1.dropLast(4))! }.map {
            try Data(contentsOf: URL(fileURLWithPath: maildir + "/" + $0))
        }
    }

    func envelope(_ number: Int) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: maildir + "/\(number).json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func welcome() -> EmailMessage {
        let user = User(
            id: "u1", email: "ada@example.com", name: "Ada Lovelace", createdAt: .utc("2026-11-30T08:00:00Z"))
        var message = EmailTemplates().welcome(
            user: user, workspaceName: "Engines", idempotencyKey: "run-1/send-welcome-email",
            date: .utc("2026-11-30T08:00:00Z"))
        message.to.append(EmailAddress("charles@example.com", name: "Charles Babbage"))
        return message
    }

    @Test func aRenderedMessageArrivesWithItsHeadersAndEnvelope() async throws {
        let server = try sink()
        let mailer = try SMTPMailer(url: "smtp://127.0.0.1:\(server.port)")
        let message = welcome()
        try await mailer.send(message)

        let received = try stored()
        #expect(received == [try message.rendered()], "SMTP delivers the rendered bytes unchanged")
        let text = String(decoding: try #require(received.first), as: UTF8.self)
        let headers = text.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        #expect(headers.contains("From: Folksbase <no-reply@folksbase.test>"))
        #expect(headers.contains("To: Ada Lovelace <ada@example.com>, Charles Babbage <charles@example.com>"))
        #expect(headers.contains("Subject: Welcome to Folksbase, Ada Lovelace"))
        #expect(headers.contains("Message-ID: <\(message.messageID)>"))
        #expect(text.contains("Your workspace \"Engines\" is ready."))

        let envelope = try envelope(1)
        #expect(envelope["mail_from"] as? String == "no-reply@folksbase.test")
        #expect(envelope["rcpt_tos"] as? [String] == ["ada@example.com", "charles@example.com"])
    }

    @Test func aTransientRefusalThrowsAndOnlyTheRetryIsStored() async throws {
        let server = try sink(["--fail-data-once"])
        let mailer = try SMTPMailer(url: "smtp://127.0.0.1:\(server.port)")
        let error = try await #require(throws: FolksbaseError.self) { try await mailer.send(welcome()) }
        #expect(error.code == .mail, "\(error)")
        let cause = try #require(error.cause as? TransferError)
        #expect(cause.code == .refused && cause.status == 451, "\(cause)")
        #expect(error.description.contains(welcome().messageID), "\(error)")
        #expect(try stored().isEmpty, "a refused DATA is not a delivered message")

        try await mailer.send(welcome())
        #expect(try stored() == [try welcome().rendered()])
    }

    @Test func aRecipientRefusedForGoodIsNamedAndNothingIsSent() async throws {
        let server = try sink(["--reject-rcpt", "charles@example.com"])
        let mailer = try SMTPMailer(url: "smtp://127.0.0.1:\(server.port)")
        let error = try await #require(throws: FolksbaseError.self) { try await mailer.send(welcome()) }
        #expect(error.code == .recipientRefused, "\(error)")
        #expect(error.description.contains("charles@example.com") && error.description.contains("550"), "\(error)")
        let cause = try #require(error.cause as? TransferError)
        #expect(cause.code == .recipientRefused && cause.status == 550, "\(cause)")
        #expect(try stored().isEmpty, "a message goes to all its recipients or to none")
    }

    @Test func anInvalidMessageIsNotSent() async throws {
        let server = try sink()
        let mailer = try SMTPMailer(url: "smtp://127.0.0.1:\(server.port)")
        var message = welcome()
        message.subject = "Hi\r\nBcc: eve@example.com"
        let error = try await #require(throws: FolksbaseError.self) { try await mailer.send(message) }
        #expect(error.code == .invalidInput, "\(error)")
        #expect(try stored().isEmpty)
    }

    @Test func theEnvironmentConfiguresTheMailerAndItsDescriptionHidesThePassword() throws {
        #expect(try SMTPMailer.fromEnvironment([:]) == nil)
        #expect(try SMTPMailer.fromEnvironment(["SPOOL_SMTP_URL": ""]) == nil)
        let mailer = try #require(
            try SMTPMailer.fromEnvironment([
                "SPOOL_SMTP_URL": "smtps://mail.example.com:465", "SPOOL_SMTP_USER": "folksbase",
                "SPOOL_SMTP_PASSWORD": "hunter2",
            ]))
        #expect(mailer.client.url == "smtps://mail.example.com:465")
        #expect(mailer.client.username == "folksbase")
        #expect(mailer.description == "SMTPMailer(smtps://folksbase:***@mail.example.com:465)")
        var dumped = ""
        dump(mailer, to: &dumped)
        for text in [mailer.description, String(reflecting: mailer), dumped] {
            #expect(!text.contains("hunter2"), "\(text)")
        }
        let inURL = try #require(
            try SMTPMailer.fromEnvironment(["SPOOL_SMTP_URL": "smtp://me:p%40ss@mail.example.com:587"]))
        #expect(inURL.client.username == "me" && !inURL.description.contains("p%40ss"))
        #expect(throws: TransferError.self) { try SMTPMailer.fromEnvironment(["SPOOL_SMTP_URL": "mail.example.com"]) }
    }
}
