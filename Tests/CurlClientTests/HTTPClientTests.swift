import CurlClient
import Foundation
import TestServers
import Testing

/// The HTTP client against a real server on loopback (Tests/Servers/http_server.py).
@Suite struct HTTPClientTests {
    let root: String
    let server: LocalServer
    let base: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("http-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        server = try LocalServer(["python3", Self.script, "{port}", root])
        base = "http://127.0.0.1:\(server.port)"
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Servers/http_server.py").path

    func file(_ name: String, bytes: Int) throws -> Data {
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try data.write(to: URL(fileURLWithPath: root + "/" + name))
        return data
    }

    var client: HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectTimeout = .seconds(5)
        configuration.stallTimeout = .seconds(5)
        return HTTPClient(configuration: configuration)
    }

    @Test func aDownloadStreamsTheBodyToAFile() async throws {
        let data = try file("big.bin", bytes: 3 << 20)
        let target = root + "/downloaded"
        let response = try await client.download(HTTPRequest(url: base + "/big.bin"), to: target)
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/csv")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == data)
    }

    @Test func redirectsAreFollowed() async throws {
        let data = try file("a.csv", bytes: 1000)
        let response = try await client.send(HTTPRequest(url: base + "/redirect/a.csv"))
        #expect(response.status == 200 && response.body == data)
    }

    @Test func anErrorStatusSaysWhichAndShowsTheBodysStart() async throws {
        let target = root + "/missing"
        let error = try await #require(throws: TransferError.self) {
            try await client.download(HTTPRequest(url: base + "/status/404"), to: target)
        }
        #expect(error.code == .httpStatus && error.status == 404)
        #expect(error.description.contains("HTTP 404") && error.description.contains("status 404 from the test server"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)).isEmpty, "no partial body is left as if good")
    }

    @Test func aConnectionDroppedMidTransferIsAnErrorNotAShortFile() async throws {
        _ = try file("half.bin", bytes: 1 << 20)
        let error = try await #require(throws: TransferError.self) {
            try await client.download(HTTPRequest(url: base + "/drop/half.bin"), to: root + "/half")
        }
        #expect(error.code == .connectionLost, "\(error)")
    }

    @Test func aClosedPortIsAConnectError() async throws {
        let error = try await #require(throws: TransferError.self) {
            try await client.send(HTTPRequest(url: "http://127.0.0.1:1/"))
        }
        #expect(error.code == .connect, "\(error)")
    }

    @Test func anUploadStreamsFileSegmentsInOrder() async throws {
        let first = try file("one", bytes: 100_000)
        let second = try file("two", bytes: 50_000)
        let response = try await client.send(
            HTTPRequest(
                method: "PUT", url: base + "/uploads/joined",
                body: .files([
                    try FileSegment.whole(root + "/one"), FileSegment(path: root + "/two", offset: 10, length: 40_000),
                ])))
        #expect(response.status == 201)
        let stored = try Data(contentsOf: URL(fileURLWithPath: root + "/uploads/joined"))
        #expect(stored == first + second[10..<40_010])
    }

    @Test func tlsIsVerifiedByDefault() async throws {
        let key = root + "/key.pem"
        let cert = root + "/cert.pem"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=127.0.0.1",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        _ = waitForExit(openssl)
        let tls = try LocalServer(["python3", Self.script, "{port}", root, cert, key])
        _ = try file("secret.csv", bytes: 10)
        let error = try await #require(throws: TransferError.self) {
            try await client.send(HTTPRequest(url: "https://127.0.0.1:\(tls.port)/secret.csv"))
        }
        #expect(error.code == .tls, "\(error)")
        var trusting = client
        trusting.configuration.caBundle = cert
        trusting.configuration.verifyTLS = false
        #expect(try await trusting.send(HTTPRequest(url: "https://127.0.0.1:\(tls.port)/secret.csv")).status == 200)
    }

    @Test func credentialsNeverAppearInErrors() async throws {
        let error = try await #require(throws: TransferError.self) {
            try await client.send(HTTPRequest(url: "http://user:hunter2@127.0.0.1:1/"))
        }
        #expect(!error.description.contains("hunter2"))
        #expect(URLRedaction.redact("smtp://me:pw@mail.test:25") == "smtp://me:***@mail.test:25")
        #expect(URLRedaction.redact("https://me:p@ss@host/a@b.csv") == "https://me:***@host/a@b.csv")
        #expect(URLRedaction.redact("https://host/x.csv?from=a@b.test#top") == "https://host/x.csv?from=a@b.test#top")
        let presigned =
            "https://bucket.s3.amazonaws.com/x.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261129"
            + "&X-Amz-Signature=abc123&X-Amz-Security-Token=tok"
        #expect(
            URLRedaction.redact(presigned)
                == "https://bucket.s3.amazonaws.com/x.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
                + "&X-Amz-Signature=***&X-Amz-Security-Token=***")
        #expect(
            URLRedaction.redact("https://acct.blob.core.windows.net/c/x.csv?sv=2022&sig=s3cr3t").hasSuffix("sig=***"))
    }
}
