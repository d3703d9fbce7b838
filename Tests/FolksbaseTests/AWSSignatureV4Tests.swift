import Crypto
import CurlClient
import Foundation
import TestServers
import Testing

@testable import Folksbase

/// Request signing, against the examples AWS publishes for S3 and against botocore's signer.
@Suite struct AWSSignatureV4Tests {
    /// The credentials of AWS's S3 Signature Version 4 examples.
    let example = AWSSignatureV4(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1")
    let exampleDate = Date.utc("2013-05-24T00:00:00Z")

    @Test func theS3GetObjectExampleSignsToAWSsPublishedSignature() throws {
        let request = HTTPRequest(
            url: "https://examplebucket.s3.amazonaws.com/test.txt", headers: [("Range", "bytes=0-9")])
        let computation = try example.compute(
            request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: exampleDate)
        #expect(
            computation.canonicalRequest == """
                GET
                /test.txt

                host:examplebucket.s3.amazonaws.com
                range:bytes=0-9
                x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                x-amz-date:20130524T000000Z

                host;range;x-amz-content-sha256;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        #expect(
            computation.stringToSign == """
                AWS4-HMAC-SHA256
                20130524T000000Z
                20130524/us-east-1/s3/aws4_request
                7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
                """)
        #expect(computation.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

        let signed = try example.sign(request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: exampleDate)
        #expect(
            header("Authorization", of: signed)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(header("X-Amz-Date", of: signed) == "20130524T000000Z")
        #expect(header("Host", of: signed) == "examplebucket.s3.amazonaws.com")
        #expect(header("X-Amz-Security-Token", of: signed) == nil)
    }

    @Test func theS3PutObjectExampleEncodesThePathOnceAndHashesTheFileBody() throws {
        try withTemporaryFile(Data("Welcome to Amazon S3.".utf8)) { path in
            let body = HTTPRequest.Body.files([try FileSegment.whole(path)])
            let payloadHash = try AWSSignatureV4.payloadHash(of: body)
            #expect(payloadHash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
            let request = HTTPRequest(
                method: "PUT", url: "https://examplebucket.s3.amazonaws.com/test$file.text",
                headers: [
                    ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ],
                body: body)
            let computation = try example.compute(request, payloadHash: payloadHash, date: exampleDate)
            #expect(computation.url == "https://examplebucket.s3.amazonaws.com/test%24file.text")
            #expect(computation.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013"))
            #expect(computation.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        }
    }

    @Test func theS3GetLifecycleExampleSignsAValuelessQueryAsNameEquals() throws {
        let request = HTTPRequest(url: "https://examplebucket.s3.amazonaws.com/?lifecycle")
        let computation = try example.compute(
            request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: exampleDate)
        #expect(computation.canonicalRequest.hasPrefix("GET\n/\nlifecycle=\nhost:"))
        #expect(computation.url == "https://examplebucket.s3.amazonaws.com/?lifecycle")
        #expect(computation.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func theS3ListObjectsExampleSortsTheQuery() throws {
        let request = HTTPRequest(url: "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2")
        let computation = try example.compute(
            request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: exampleDate)
        #expect(computation.canonicalRequest.hasPrefix("GET\n/\nmax-keys=2&prefix=J\n"))
        #expect(computation.url == "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J")
        #expect(computation.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func s3PathsAndQueriesAreEncodedOnceAsRFC3986Says() throws {
        #expect(AWSSignatureV4.uriEncode("a b+c/d~e_f.g-h*é") == "a%20b%2Bc%2Fd~e_f.g-h%2A%C3%A9")
        #expect(AWSSignatureV4.uriEncode("exports/2024 q1.csv", keepingSlash: true) == "exports/2024%20q1.csv")
        let request = HTTPRequest(
            method: "PUT", url: "http://127.0.0.1:9000/bucket/a%20b/c d.csv?uploadId=x/y+z=&partNumber=2")
        let computation = try example.compute(
            request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: exampleDate)
        #expect(computation.url == "http://127.0.0.1:9000/bucket/a%20b/c%20d.csv?partNumber=2&uploadId=x%2Fy%2Bz%3D")
        #expect(computation.canonicalRequest.hasPrefix("PUT\n/bucket/a%20b/c%20d.csv\npartNumber=2&uploadId=x%2Fy"))
        #expect(computation.canonicalRequest.contains("\nhost:127.0.0.1:9000\n"))
    }

    @Test func headerValuesAreTrimmedAndASessionTokenIsSigned() throws {
        var signer = example
        signer.sessionToken = "session/token+value="
        let request = HTTPRequest(
            url: "https://examplebucket.s3.amazonaws.com/test.txt",
            headers: [("X-Custom", "  spaced   out  value "), ("x-custom", "second")])
        let signed = try signer.sign(request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: exampleDate)
        let computation = try signer.compute(request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: exampleDate)
        #expect(computation.canonicalRequest.contains("\nx-custom:spaced out value,second\n"))
        #expect(computation.canonicalRequest.contains("\nx-amz-security-token:session/token+value=\n"))
        #expect(header("X-Amz-Security-Token", of: signed) == "session/token+value=")
        #expect(
            header("Authorization", of: signed)?.contains(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-custom,") == true)
    }

    @Test func anS3FileBodyHashesItsSegmentsInPiecesAsOneStream() throws {
        let first = try Data(randomBytes: (5 << 19) + 3)
        let second = try Data(randomBytes: 1000)
        try withTemporaryFile(first) { firstPath in
            try withTemporaryFile(second) { secondPath in
                let segments = [
                    FileSegment(path: firstPath, offset: 1000, length: Int64(first.count - 1001)),
                    FileSegment(path: secondPath, length: 1000),
                ]
                let expected = first.dropFirst(1000).dropLast() + second
                let hash = try AWSSignatureV4.payloadHash(of: segments)
                #expect(hash == AWSSignatureV4.hex(SHA256.hash(data: expected)))
                let tooLong = [FileSegment(path: secondPath, length: 1001)]
                #expect(throws: TransferError.self) { try AWSSignatureV4.payloadHash(of: tooLong) }
                #expect(throws: TransferError.self) {
                    try AWSSignatureV4.payloadHash(of: [FileSegment(path: secondPath + ".gone", length: 1)])
                }
            }
        }
    }

    @Test(.enabled(if: LocalServer.hasPythonModule("botocore"), "needs botocore (moto installs it)"))
    func anS3UploadPartRequestSignsAsBotocoreSignsIt() throws {
        let signer = AWSSignatureV4(
            accessKeyID: "AKIDBOTOCORE", secretAccessKey: "botocore/secret+key", sessionToken: "token/with+chars=",
            region: "eu-west-1")
        let request = HTTPRequest(
            method: "PUT",
            url: "http://127.0.0.1:9000/my-bucket/exports/2024 report+draft.csv?uploadId=VXBs/b2Fk+SUQ=&partNumber=7",
            headers: [("Content-Type", "text/csv ;  charset=utf-8")])
        let payloadHash = AWSSignatureV4.hex(SHA256.hash(data: Data("part seven".utf8)))
        let date = Date.utc("2026-03-01T12:34:56Z")
        let signed = try signer.sign(request, payloadHash: payloadHash, date: date)
        let script = """
            import sys
            from botocore.auth import S3SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            method, url, content_type, payload, stamp = sys.argv[1:6]
            request = AWSRequest(method=method, url=url)
            request.headers['Content-Type'] = content_type
            request.headers['X-Amz-Date'] = stamp
            request.headers['X-Amz-Content-SHA256'] = payload
            request.headers['X-Amz-Security-Token'] = 'token/with+chars='
            request.context['timestamp'] = stamp
            auth = S3SigV4Auth(Credentials('AKIDBOTOCORE', 'botocore/secret+key', 'token/with+chars='), 's3', 'eu-west-1')
            print(auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request))
            """
        let botocore = try python3(
            script, ["PUT", signed.url, "text/csv ;  charset=utf-8", payloadHash, "20260301T123456Z"])
        #expect(botocore.count == 64)
        #expect(header("Authorization", of: signed)?.hasSuffix("Signature=" + botocore) == true, "\(signed.url)")
    }

    /// Runs a script with the `python3` on the PATH (the one `LocalServer.hasPythonModule` asks); its output.
    private func python3(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        #expect(waitForExit(process) ?? 0 == 0)
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func header(_ name: String, of request: HTTPRequest) -> String? {
        request.headers.last { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Runs `body` with a temporary file holding `data`, removed afterwards.
func withTemporaryFile<T>(_ data: Data, _ body: (String) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "/folksbase-test-" + UUID().uuidString
    try data.write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

extension Data {
    /// `count` random bytes from the kernel.
    init(randomBytes count: Int) throws {
        guard let random = FileHandle(forReadingAtPath: "/dev/urandom") else {
            throw CocoaError(.fileReadNoSuchFile)
        }
        defer { try? random.close() }
        self = try random.read(upToCount: count) ?? Data()
    }
}
