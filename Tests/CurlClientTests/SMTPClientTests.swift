import CurlClient
import Foundation
import TestServers
import Testing

/// The SMTP client against a real server on loopback (Tests/Servers/smtp_sink.py, aiosmtpd).
@Suite(.enabled(if: LocalServer.hasPythonModule("aiosmtpd"), "needs Python's aiosmtpd"))
struct SMTPClientTests {
    /// One sink and the folder it stores messages in.
    struct Sink {
        let server: LocalServer
        let maildir: String
        var url: String { "smtp://127.0.0.1:\(server.port)" }

        init(_ options: [String] = []) throws {
            maildir = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-" + UUID().uuidString).path
            try FileManager.default.createDirectory(atPath: maildir, withIntermediateDirectories: true)
            server = try LocalServer(["python3", Self.script, "{port}", maildir] + options)
        }

        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Servers/smtp_sink.py").path

        /// The stored messages, in arrival order.
        func messages() throws -> [Data] {
            let names = try FileManager.default.contentsOfDirectory(atPath: maildir).filter { $0.hasSuffix(".eml") }
            return try names.sorted { Int($0.dropLast(4))! < Int($1.dropLast(4))! }.map {
                try Data(contentsOf: URL(fileURLWithPath: maildir + "/" + $0))
            }
        }

        /// The envelope of the `number`th stored message.
        func envelope(_ number: Int) throws -> Envelope {
            try JSONDecoder().decode(
                Envelope.self, from: Data(contentsOf: URL(fileURLWithPath: maildir + "/\(number).json")))
        }
    }

    struct Envelope: Decodable, Equatable {
        var mailFrom: String
        var rcptTos: [String]
        var tls: Bool
        var authenticated: Bool

        enum CodingKeys: String, CodingKey {
            case mailFrom = "mail_from"
            case rcptTos = "rcpt_tos"
            case tls, authenticated
        }
    }

    let message = Data(
        """
        From: a@example.com\r
        To: b@example.com\r
        Subject: Dots\r
        \r
        .a line that starts with a dot\r
        .\r
        ..\r
        the end\r

        """.utf8)

    var configuration: SMTPClient.Configuration {
        var configuration = SMTPClient.Configuration()
        configuration.connectTimeout = .seconds(5)
        configuration.timeout = .seconds(30)
        return configuration
    }

    @Test func aMessageArrivesByteForByteWithItsEnvelope() async throws {
        let sink = try Sink()
        let body = (0..<4000).map { "line \($0) " + String(repeating: "x", count: 60) + "\r\n" }.joined()
        let large = message + Data(body.utf8)
        let client = try SMTPClient(url: sink.url, configuration: configuration)
        try await client.send(from: "a@example.com", to: ["b@example.com", "c@example.com"], message: message)
        try await client.send(from: "a@example.com", to: ["b@example.com"], message: large)
        #expect(try sink.messages() == [message, large], "dot-stuffing is undone by the server, nothing else changes")
        #expect(
            try sink.envelope(1)
                == Envelope(
                    mailFrom: "a@example.com", rcptTos: ["b@example.com", "c@example.com"], tls: false,
                    authenticated: false))
    }

    @Test func startTLSWithASelfSignedCertificate() async throws {
        let (cert, key) = try selfSignedCertificate()
        let sink = try Sink(["--tls", cert, key])

        let error = try await #require(throws: TransferError.self) {
            try await SMTPClient(url: sink.url, configuration: configuration)
                .send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(error.code == .tls, "\(error)")

        var trusting = configuration
        trusting.caBundle = cert
        trusting.startTLS = .required
        try await SMTPClient(url: sink.url, configuration: trusting)
            .send(from: "a@example.com", to: ["b@example.com"], message: message)
        var unverified = configuration
        unverified.verifyTLS = false
        try await SMTPClient(url: sink.url, configuration: unverified)
            .send(from: "a@example.com", to: ["b@example.com"], message: message)

        #expect(try sink.messages() == [message, message])
        #expect(try sink.envelope(1).tls && sink.envelope(2).tls)
    }

    @Test func requiredStartTLSFailsAgainstAServerWithoutIt() async throws {
        let sink = try Sink()
        var required = configuration
        required.startTLS = .required
        let error = try await #require(throws: TransferError.self) {
            try await SMTPClient(url: sink.url, configuration: required)
                .send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(error.code == .tls, "\(error)")
        #expect(try sink.messages().isEmpty)
    }

    @Test func authenticationWithTheRightPasswordAndTheWrong() async throws {
        let sink = try Sink(["--auth", "mailer:s3cr%t:pw"])
        let port = sink.server.port
        let client = try SMTPClient(
            url: sink.url, username: "mailer", password: "s3cr%t:pw", configuration: configuration)
        try await client.send(from: "a@example.com", to: ["b@example.com"], message: message)
        let fromURL = try SMTPClient(url: "smtp://mailer:s3cr%25t%3Apw@127.0.0.1:\(port)", configuration: configuration)
        try await fromURL.send(from: "a@example.com", to: ["b@example.com"], message: message)
        #expect(try sink.messages().count == 2)
        #expect(try sink.envelope(1).authenticated && sink.envelope(2).authenticated)

        let wrong = try SMTPClient(url: sink.url, username: "mailer", password: "hunter2", configuration: configuration)
        let error = try await #require(throws: TransferError.self) {
            try await wrong.send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(error.code == .authentication && error.status == 535, "\(error)")
        let wrongInURL = try SMTPClient(url: "smtp://mailer:hunter2@127.0.0.1:\(port)", configuration: configuration)
        let urlError = try await #require(throws: TransferError.self) {
            try await wrongInURL.send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(urlError.code == .authentication, "\(urlError)")

        let none = try SMTPClient(url: sink.url, configuration: configuration)
        let anonymous = try await #require(throws: TransferError.self) {
            try await none.send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(anonymous.code == .refused && anonymous.status == 530, "\(anonymous)")

        for text in [
            String(describing: error), String(reflecting: error), String(describing: urlError),
            String(reflecting: urlError), String(describing: wrongInURL), String(reflecting: wrongInURL),
            wrongInURL.url,
        ] {
            #expect(!text.contains("hunter2"), "\(text)")
        }
        var dumped = ""
        dump(wrong, to: &dumped)
        #expect(!dumped.contains("hunter2"), "\(dumped)")
        #expect(String(describing: wrongInURL) == "smtp://mailer:***@127.0.0.1:\(port)")
    }

    @Test func aRejectedRecipientIsRefusedAndNothingIsStored() async throws {
        let sink = try Sink(["--reject-rcpt", "nobody@example.com"])
        let client = try SMTPClient(url: sink.url, configuration: configuration)
        let error = try await #require(throws: TransferError.self) {
            try await client.send(
                from: "a@example.com", to: ["b@example.com", "nobody@example.com"], message: message)
        }
        #expect(error.code == .recipientRefused && error.status == 550, "\(error)")
        #expect(error.description.contains("nobody@example.com"), "the server's reply says which: \(error)")
        #expect(error.description.contains("for good"), "\(error)")
        #expect(try sink.messages().isEmpty)
    }

    @Test func aRejectedSenderRefusesTheMessageNotARecipient() async throws {
        let sink = try Sink(["--reject-sender", "a@example.com"])
        let client = try SMTPClient(url: sink.url, configuration: configuration)
        let error = try await #require(throws: TransferError.self) {
            try await client.send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(error.code == .refused && error.status == 550, "\(error)")
        #expect(error.description.contains("sender rejected"), "\(error)")
        #expect(try sink.messages().isEmpty)
    }

    @Test func aTransientDataFailureThrowsAndTheNextSendIsStoredOnce() async throws {
        let sink = try Sink(["--fail-data-once"])
        let client = try SMTPClient(url: sink.url, configuration: configuration)
        let error = try await #require(throws: TransferError.self) {
            try await client.send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(error.code == .refused && error.status == 451, "\(error)")
        #expect(error.description.contains("later"), "\(error)")
        #expect(try sink.messages().isEmpty)
        try await client.send(from: "a@example.com", to: ["b@example.com"], message: message)
        #expect(try sink.messages() == [message])
    }

    @Test func aPasswordGoesInClearTextOnlyToThisMachine() throws {
        let cases: [(String, SMTPClient.StartTLS)] = [
            ("smtp://u:p@mail.example.com:587", .required), ("smtp://u:p@127.0.0.1:25", .whenAvailable),
            ("smtp://u:p@localhost", .whenAvailable), ("smtp://u:p@[::1]:25", .whenAvailable),
            ("smtp://mail.example.com:25", .whenAvailable),
        ]
        for (url, expected) in cases { #expect(try SMTPClient(url: url).effectiveStartTLS == expected, "\(url)") }
        var clearText = SMTPClient.Configuration()
        clearText.startTLS = .never
        #expect(
            try SMTPClient(url: "smtp://u:p@mail.example.com", configuration: clearText).effectiveStartTLS == .never)
    }

    @Test func aClosedPortIsAConnectError() async throws {
        let client = try SMTPClient(url: "smtp://user:hunter2@127.0.0.1:1", configuration: configuration)
        let error = try await #require(throws: TransferError.self) {
            try await client.send(from: "a@example.com", to: ["b@example.com"], message: message)
        }
        #expect(error.code == .connect && error.status == nil, "\(error)")
        #expect(!error.description.contains("hunter2"))
    }

    @Test func badURLsAndEnvelopeAddressesAreInvalidInput() async throws {
        for url in ["http://127.0.0.1:25", "127.0.0.1:25", "smtp://", "smtp://user:pw@", "smtp://u:%zz@host"] {
            let error = try #require(throws: TransferError.self) { try SMTPClient(url: url) }
            #expect(error.code == .invalidInput, "\(url): \(error)")
            #expect(!error.description.contains("%zz"))
        }
        #expect(throws: TransferError.self) { try SMTPClient(url: "smtp://host", password: "pw") }
        let client = try SMTPClient(url: "SMTPS://host:465")
        #expect(client.url == "smtps://host:465")
        for (from, to) in [
            ("a@example.com\r\nRCPT TO:<x@evil.test>", ["b@example.com"]), ("a@example.com", []),
            ("a@example.com", ["b@example.com>"]), ("a@example.com", ["b c@example.com"]), ("a@example.com", [""]),
        ] {
            let error = try await #require(throws: TransferError.self) {
                try await client.send(from: from, to: to, message: message)
            }
            #expect(error.code == .invalidInput, "\(error)")
        }
    }

    /// A certificate and key for 127.0.0.1, valid for a day.
    func selfSignedCertificate() throws -> (cert: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (cert, key) = (directory + "/cert.pem", directory + "/key.pem")
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        try #require(waitForExit(openssl) ?? 0 == 0, "openssl req failed")
        return (cert, key)
    }
}
