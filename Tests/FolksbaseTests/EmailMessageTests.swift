import Foundation
import Testing

@testable import Folksbase

@Suite struct EmailMessageTests {
    static let date = Date.utc("2026-11-30T08:00:05Z")

    func message(
        subject: String = "Hello", htmlBody: String? = "<p>Hi</p>", headers: [EmailMessage.Header] = [],
        to: [EmailAddress] = [EmailAddress("ada@example.com", name: "Ada Lovelace")]
    ) -> EmailMessage {
        EmailMessage(
            from: EmailAddress("no-reply@folksbase.test", name: "Folksbase"), to: to, subject: subject,
            textBody: "Hi Ada,\nline two\n", htmlBody: htmlBody, messageID: "<abc.123@folksbase.test>", date: Self.date,
            headers: headers)
    }

    func render(_ message: EmailMessage) throws -> String {
        String(decoding: try message.rendered(), as: UTF8.self)
    }

    @Test func rendersHeadersWithCRLFOnly() throws {
        let text = try render(message(headers: [EmailMessage.Header("X-Spool-Run", "run-1")]))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\r"))
        #expect(text.hasSuffix("\r\n"))
        let headers = text.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        #expect(headers.contains("From: Folksbase <no-reply@folksbase.test>"))
        #expect(headers.contains("To: Ada Lovelace <ada@example.com>"))
        #expect(headers.contains("Subject: Hello"))
        #expect(headers.contains("Date: Mon, 30 Nov 2026 08:00:05 +0000"))
        #expect(headers.contains("Message-ID: <abc.123@folksbase.test>"))
        #expect(headers.contains("MIME-Version: 1.0"))
        #expect(headers.contains("X-Spool-Run: run-1"))
        #expect(text.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 998 })
    }

    @Test func htmlMakesAMultipartAlternativeWithBothParts() throws {
        let text = try render(message())
        let boundary = try #require(text.firstMatch(of: /boundary="([^"]+)"/)?.1)
        #expect(text.contains("Content-Type: multipart/alternative; boundary=\"\(boundary)\""))
        let parts = text.components(separatedBy: "\r\n--\(boundary)")
        #expect(parts.count == 4)
        #expect(parts[1].contains("Content-Type: text/plain; charset=utf-8"))
        #expect(parts[1].contains("Content-Transfer-Encoding: quoted-printable"))
        #expect(parts[1].contains("\r\n\r\nHi Ada,\r\nline two\r\n"))
        #expect(parts[2].contains("Content-Type: text/html; charset=utf-8"))
        #expect(parts[2].contains("<p>Hi</p>"))
        #expect(parts[3] == "--\r\n")
    }

    @Test func textOnlyIsOnePlainPart() throws {
        let text = try render(message(htmlBody: nil))
        #expect(!text.contains("multipart"))
        #expect(
            text.contains(
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"))
    }

    @Test func nonASCIISubjectsAndNamesAreEncodedWords() throws {
        let subject = "Résumé of your week 🎉 — " + String(repeating: "ünïcödé ", count: 12)
        let text = try render(message(subject: subject, to: [EmailAddress("zoe@example.com", name: "Zoë Ñ")]))
        let header = text.components(separatedBy: "\r\n\r\n")[0]
        #expect(header.contains("To: =?UTF-8?B?Wm/DqyDDkQ==?= <zoe@example.com>"))
        let subjectLines = header.components(separatedBy: "\r\n").drop { !$0.hasPrefix("Subject: ") }
            .prefix { $0.hasPrefix("Subject: ") || $0.hasPrefix(" ") }
        #expect(subjectLines.count > 1)
        var decoded = Data()
        for line in subjectLines {
            let word = line.replacingOccurrences(of: "Subject: ", with: "").trimmingCharacters(in: .whitespaces)
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            #expect(word.utf8.count <= 75)
            decoded += try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
    }

    @Test func namesWithSpecialsAreQuoted() throws {
        let text = try render(message(to: [EmailAddress("x@example.com", name: "Doe, \"JD\" John")]))
        #expect(text.contains("To: \"Doe, \\\"JD\\\" John\" <x@example.com>"))
    }

    @Test(arguments: [
        ("subject", "Hi\r\nBcc: victim@example.com"),
        ("name", "Ada\nBcc: victim@example.com"),
        ("header", "value\rX-Injected: 1"),
        ("address", "ada@example.com\r\nBcc: victim@example.com"),
    ])
    func headerInjectionIsRejected(field: String, value: String) throws {
        var bad = message()
        switch field {
        case "subject": bad.subject = value
        case "name": bad.to = [EmailAddress("ada@example.com", name: value)]
        case "header": bad.headers = [EmailMessage.Header("X-Note", value)]
        default: bad.to = [EmailAddress(value)]
        }
        let error = #expect(throws: FolksbaseError.self) { try bad.rendered() }
        #expect(error?.code == .invalidInput)
    }

    @Test func reservedOrMalformedHeadersAreRejected() throws {
        #expect(throws: FolksbaseError.self) {
            try message(headers: [EmailMessage.Header("Bcc", "x@example.com")]).rendered()
        }
        #expect(throws: FolksbaseError.self) { try message(headers: [EmailMessage.Header("Bad Name", "x")]).rendered() }
        #expect(throws: FolksbaseError.self) { try message(to: []).rendered() }
        var badID = message()
        badID.messageID = "no at sign"
        #expect(throws: FolksbaseError.self) { try badID.rendered() }
    }

    @Test func quotedPrintableKeepsLinesShortAndEscapesWhatItMust() {
        let long = String(repeating: "abcdefghij", count: 20) + "= café \n.dot\ntrailing space "
        let encoded = EmailMessage.quotedPrintable(long)
        let lines = encoded.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 76 })
        #expect(encoded.contains("=3D"))
        #expect(encoded.contains("caf=C3=A9"))
        #expect(lines.contains("=2Edot"))
        #expect(lines.last == "trailing space=20")
        #expect(encoded.utf8.allSatisfy { $0 < 128 })
    }

    @Test func messageIDsAreStableValidAndDistinct() {
        let key = "20261129T080000.123Z-send-welcome-7f3a9c1e/send-welcome-email"
        let id = EmailMessage.messageID(idempotencyKey: key, domain: "Folksbase.test")
        #expect(id == EmailMessage.messageID(idempotencyKey: key, domain: "Folksbase.test"))
        #expect(id.hasPrefix("20261129T080000.123Z-send-welcome-7f3a9c1e-send-welcome-email."))
        #expect(id.hasSuffix("@folksbase.test"))
        #expect(id != EmailMessage.messageID(idempotencyKey: key + "~1", domain: "folksbase.test"))
        for weird in ["", "...", "<>\r\n", String(repeating: "x", count: 500), "ünï/cödé"] {
            var check = message()
            check.messageID = EmailMessage.messageID(idempotencyKey: weird, domain: "bad domain!")
            #expect((try? check.rendered()) != nil, "\(check.messageID)")
        }
    }

    @Test(.enabled(if: python3Path != nil, "needs python3"))
    func pythonsEmailParserReadsItBack() async throws {
        try await withTemporaryDirectory { directory in
            let subject = "Ünïcode digest — week 48"
            let text = "Hi Zoë,\n" + String(repeating: "long line ", count: 30) + "\n.\nbye\n"
            let html = "<p>Hi Zo&euml;</p>"
            let original = EmailMessage(
                from: EmailAddress("no-reply@folksbase.test", name: "Folksbase"),
                to: [EmailAddress("zoe@example.com", name: "Zoë Ñ"), EmailAddress("b@example.com")], subject: subject,
                textBody: text, htmlBody: html, messageID: "k.1@folksbase.test", date: Self.date)
            let path = directory + "/message.eml"
            try original.rendered().write(to: URL(fileURLWithPath: path))
            let script = """
                import email, email.policy, json, sys
                m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
                parts = [p for p in m.walk() if not p.is_multipart()]
                print(json.dumps({
                    'subject': str(m['subject']), 'to': [str(a) for a in m['to'].addresses],
                    'from': str(m['from']), 'date': m['date'].datetime.isoformat(), 'id': m['message-id'],
                    'types': [p.get_content_type() for p in parts], 'bodies': [p.get_content() for p in parts],
                    'defects': [str(d) for p in m.walk() for d in p.defects],
                }))
                """
            let output = try runPython(script, [path])
            let parsed = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
            #expect(parsed["subject"] as? String == subject)
            #expect(parsed["to"] as? [String] == ["Zoë Ñ <zoe@example.com>", "b@example.com"])
            #expect(parsed["from"] as? String == "Folksbase <no-reply@folksbase.test>")
            #expect(parsed["date"] as? String == "2026-11-30T08:00:05+00:00")
            #expect(parsed["id"] as? String == "<k.1@folksbase.test>")
            #expect(parsed["types"] as? [String] == ["text/plain", "text/html"])
            let bodies = parsed["bodies"] as? [String]
            #expect(bodies?.first?.replacingOccurrences(of: "\r\n", with: "\n") == text)
            #expect(bodies?.last?.replacingOccurrences(of: "\r\n", with: "\n") == html)
            #expect((parsed["defects"] as? [String])?.isEmpty == true)
        }
    }
}
