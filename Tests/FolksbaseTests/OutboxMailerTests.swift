import Foundation
import SpoolEngine
import Testing

@testable import Folksbase

@Suite struct OutboxMailerTests {
    func message(id: String, subject: String = "Hello") -> EmailMessage {
        EmailMessage(
            from: "no-reply@folksbase.test", to: ["ada@example.com"], subject: subject, textBody: "Hi",
            htmlBody: "<p>Hi</p>", messageID: id, date: .utc("2026-11-30T08:00:00Z"))
    }

    @Test func writesOneFilePerMessageIDAndCreatesTheFolder() async throws {
        try await withTemporaryDirectory { directory in
            let outbox = directory + "/spool/outbox"
            let mailer = OutboxMailer(directory: outbox, writer: DurableWriter())
            try await mailer.send(message(id: "a@folksbase.test"))
            try await mailer.send(message(id: "b@folksbase.test"))
            #expect(try Disk.list(outbox).sorted() == ["a_40folksbase.test.eml", "b_40folksbase.test.eml"])
            let written = try Disk.read(mailer.path(for: message(id: "a@folksbase.test")))
            #expect(written == (try message(id: "a@folksbase.test").rendered()))
        }
    }

    @Test func sendingTheSameMessageAgainReplacesItsFile() async throws {
        try await withTemporaryDirectory { directory in
            let mailer = OutboxMailer(directory: directory + "/outbox", writer: DurableWriter())
            let id = EmailMessage.messageID(idempotencyKey: "run-1/send-email", domain: "folksbase.test")
            try await mailer.send(message(id: id, subject: "First attempt"))
            try await mailer.send(message(id: id, subject: "Second attempt"))
            let names = try Disk.list(directory + "/outbox")
            #expect(names.count == 1)
            let text = String(decoding: try Disk.read(directory + "/outbox/" + names[0]), as: UTF8.self)
            #expect(text.contains("Subject: Second attempt"))
        }
    }

    @Test func anInvalidMessageWritesNothing() async throws {
        try await withTemporaryDirectory { directory in
            let mailer = OutboxMailer(directory: directory + "/outbox", writer: DurableWriter())
            await #expect(throws: FolksbaseError.self) {
                try await mailer.send(self.message(id: "a@folksbase.test", subject: "Hi\r\nBcc: x@example.com"))
            }
            let names = try Disk.list(directory + "/outbox")
            #expect(names.isEmpty)
        }
    }

    @Test func fileNamesAreSafeAndDistinct() {
        let ids = [
            "a@b", "a_40b", ".hidden@x", "../../etc/passwd@x", "ünï@x", "a/b@x", "a%2Fb@x",
            String(repeating: "y", count: 400) + "1@x", String(repeating: "y", count: 400) + "2@x",
        ]
        let names = ids.map(OutboxMailer.fileName(forMessageID:))
        #expect(Set(names).count == ids.count)
        for name in names {
            #expect(name.hasSuffix(".eml"))
            #expect(!name.hasPrefix("."))
            #expect(name.utf8.count <= 255)
            #expect(SafeName.isSafe(name), "\(name)")
        }
        #expect(OutboxMailer.fileName(forMessageID: "<a@b>") == OutboxMailer.fileName(forMessageID: "a@b"))
    }
}
