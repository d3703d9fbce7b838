import CurlClient
import Foundation
import SpoolEngine
import TestServers
import Testing

@testable import Folksbase

/// The S3 blob store: its part plan and XML reading, and the store itself against moto's S3 server on loopback.
@Suite struct S3BlobStoreTests {
    @Test func theS3ConfigurationComesFromTheEnvironment() throws {
        let configuration = try S3Configuration.fromEnvironment([
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "",
            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://other:1",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000/",
        ])
        #expect(configuration.accessKeyID == "AKIDENV" && configuration.secretAccessKey == "env-secret")
        #expect(configuration.sessionToken == nil && configuration.region == "eu-west-1")
        #expect(configuration.endpoint == "http://127.0.0.1:9000/" && configuration.pathStyle)
        #expect(try configuration.resolvedEndpoint() == ("http", "127.0.0.1:9000"))

        let aws = try S3Configuration.fromEnvironment([
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_REGION": "eu-central-1",
            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_SESSION_TOKEN": "token",
        ])
        #expect(aws.region == "eu-central-1" && aws.sessionToken == "token" && !aws.pathStyle)
        #expect(try aws.resolvedEndpoint() == ("https", "s3.eu-central-1.amazonaws.com"))
        #expect(
            try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"]).region
                == "us-east-1")

        for (environment, variable) in [
            (["AWS_SECRET_ACCESS_KEY": "s"], "AWS_ACCESS_KEY_ID"),
            (
                ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us east"],
                "AWS_DEFAULT_REGION"
            ),
            (["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": ""], "AWS_SECRET_ACCESS_KEY"),
            (
                ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": "ftp://x"],
                "AWS_ENDPOINT_URL"
            ),
            (
                ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL_S3": "http://h/p"],
                "AWS_ENDPOINT_URL_S3"
            ),
        ] {
            let error = try #require(throws: FolksbaseError.self) { try S3Configuration.fromEnvironment(environment) }
            #expect(error.code == .invalidInput && error.message.hasPrefix(variable), "\(error)")
        }
    }

    @Test func s3PartsAreRunsOfThePartSizeAcrossAndWithinFiles() {
        let mebibyte: Int64 = 1 << 20
        let plan = S3BlobStore.partPlan(
            [
                FileSegment(path: "a", length: 3 * mebibyte), FileSegment(path: "b", length: mebibyte),
                FileSegment(path: "c", length: 8 * mebibyte),
            ],
            partSize: 5 * mebibyte)
        #expect(
            plan == [
                [
                    FileSegment(path: "a", length: 3 * mebibyte), FileSegment(path: "b", length: mebibyte),
                    FileSegment(path: "c", length: mebibyte),
                ],
                [FileSegment(path: "c", offset: mebibyte, length: 5 * mebibyte)],
                [FileSegment(path: "c", offset: 6 * mebibyte, length: 2 * mebibyte)],
            ])
        #expect(S3BlobStore.partSize(for: 12 * mebibyte) == S3BlobStore.minimumPartSize)
        let huge: Int64 = 100 << 30
        let size = S3BlobStore.partSize(for: huge)
        #expect(size % mebibyte == 0 && (huge + size - 1) / size <= 10_000 && size < 12 * mebibyte)
    }

    @Test func s3AnswersAreReadForErrorCodesUploadsAndQuotedETags() {
        let error = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchBucket</Code><Message>The specified bucket &amp; key do not exist</Message></Error>
            """
        #expect(S3XML.text("Code", in: error) == "NoSuchBucket")
        #expect(S3XML.text("Message", in: error) == "The specified bucket & key do not exist")
        let list = """
            <ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Bucket>b</Bucket><KeyMarker/><UploadIdMarker></UploadIdMarker><Prefix>k</Prefix>
            <Upload><Key>k</Key><UploadId>one</UploadId><Initiator><ID>x</ID></Initiator></Upload>
            <Upload><Key>k.bak</Key><UploadId>two</UploadId></Upload>
            <IsTruncated>false</IsTruncated></ListMultipartUploadsResult>
            """
        #expect(S3XML.elements("Upload", in: list).compactMap { S3XML.text("UploadId", in: $0) } == ["one", "two"])
        #expect(S3XML.text("KeyMarker", in: list) == "" && S3XML.text("UploadIdMarker", in: list) == "")
        #expect(S3XML.text("Key", in: list) == "k")
        #expect(S3XML.text("ETag", in: "<Part><ETag>&quot;9b2cf&#34;&#x22;</ETag></Part>") == "\"9b2cf\"\"")
        #expect(S3XML.unescape("a &bogus; b & c") == "a &bogus; b & c")
        #expect(S3XML.escape("\"e<t>&\"") == "\"e&lt;t&gt;&amp;\"")
    }

    @Suite(
        .enabled(
            if: LocalServer.hasPythonModule("moto"), "moto is not installed: python3 -m pip install 'moto[server]'"))
    struct AgainstMoto {
        @Test func aSmallS3PutIsOnePutObjectAndReadsBackByteIdentical() async throws {
            let s3 = try MotoS3()
            try await s3.makeBucket("small")
            let store = s3.store("small", prefix: "/prod/")
            try await withTemporaryDirectory { directory in
                let parts = try S3BlobStoreTests.writeParts([1000, 250_000, 7], in: directory)
                let key = try BlobKey("exports/run-1.csv")
                let url = try await store.put(concatenating: parts.paths, key: key)
                #expect(url == "s3://small/prod/exports/run-1.csv")

                let head = try await s3.send("HEAD", "/small/prod/exports/run-1.csv")
                #expect(head.status == 200)
                #expect(head.header("ETag")?.contains("-") == false, "one PutObject, not a multipart upload")
                #expect(head.header("Content-Type") == "text/csv")

                try Disk.makeDirectory(directory + "/download")
                let local = try await store.localFile(for: url, downloadingInto: directory + "/download")
                #expect(local == directory + "/download/run-1.csv")
                #expect(try Disk.read(local) == parts.data)
                #expect(try Disk.list(directory + "/download") == ["run-1.csv"], "no temp file is left behind")
            }
        }

        @Test func a12MiBS3PutGoesUpInThreePartsAndReadsBackByteIdentical() async throws {
            let s3 = try MotoS3()
            try await s3.makeBucket("big")
            let store = s3.store("big")
            try await withTemporaryDirectory { directory in
                let parts = try S3BlobStoreTests.writeParts(
                    Array(repeating: 1_000_000, count: 12) + [600_000], in: directory)
                #expect(parts.data.count == 12_600_000)
                let url = try await store.put(concatenating: parts.paths, key: BlobKey("exports/big.csv"))
                #expect(url == "s3://big/exports/big.csv")

                let head = try await s3.send("HEAD", "/big/exports/big.csv")
                let etag = try #require(head.header("ETag"))
                #expect(etag.hasSuffix("-3\""), "a multipart upload of 3 parts (5 MiB, 5 MiB, the rest): \(etag)")
                #expect(s3.server.log.contains("partNumber=3") && !s3.server.log.contains("partNumber=4"))
                #expect(try await store.uploadsInProgress(for: "exports/big.csv").isEmpty)

                let local = try await store.localFile(for: url, downloadingInto: directory)
                #expect(try Disk.read(local) == parts.data, "the object is the concatenation of the parts")
            }
        }

        @Test func anS3PartTheServerRejectsAbortsTheUploadAndTheErrorSaysWhy() async throws {
            let s3 = try MotoS3(environment: ["S3_UPLOAD_PART_MIN_SIZE": String(6 << 20)])
            try await s3.makeBucket("strict")
            let store = s3.store("strict")
            try await withTemporaryDirectory { directory in
                let parts = try S3BlobStoreTests.writeParts([6 << 20, 1 << 20], in: directory)
                let error = try await #require(throws: TransferError.self) {
                    try await store.put(concatenating: parts.paths, key: BlobKey("exports/rejected.csv"))
                }
                #expect(error.description.contains("CompleteMultipartUpload"), "\(error)")
                #expect(error.description.contains("EntityTooSmall"), "\(error)")
                #expect(error.status == 400)
                #expect(s3.server.log.contains("partNumber=2"), "the parts went up before the server refused them")
                #expect(
                    try await store.uploadsInProgress(for: "exports/rejected.csv").isEmpty, "the upload was aborted")
            }
        }

        @Test func anS3SourceThatCannotBeReadFailsBeforeAnythingIsUploaded() async throws {
            let s3 = try MotoS3()
            try await s3.makeBucket("sources")
            let store = s3.store("sources")
            try await withTemporaryDirectory { directory in
                let parts = try S3BlobStoreTests.writeParts([6 << 20], in: directory)
                for bad in [directory + "/missing.csv", directory] {
                    let error = try await #require(throws: TransferError.self) {
                        try await store.put(concatenating: parts.paths + [bad], key: BlobKey("exports/bad.csv"))
                    }
                    #expect(error.code == .io && error.description.contains(bad), "\(error)")
                }
                #expect(!s3.server.log.contains("uploads"), "no request was made")
            }
        }

        @Test func aStaleS3UploadOfTheKeyIsAbortedByTheNextPutAndOthersAreLeftAlone() async throws {
            let s3 = try MotoS3()
            try await s3.makeBucket("stale")
            let store = s3.store("stale")
            for key in ["exports/a.csv", "exports/a.csv", "exports/a.csv.bak"] {
                let created = try await s3.send("POST", "/stale/" + key, query: "uploads")
                try created.requireSuccess("CreateMultipartUpload by hand")
            }
            #expect(try await store.uploadsInProgress(for: "exports/a.csv").count == 2)
            try await withTemporaryDirectory { directory in
                let parts = try S3BlobStoreTests.writeParts([100], in: directory)
                _ = try await store.put(concatenating: parts.paths, key: BlobKey("exports/a.csv"))
            }
            #expect(try await store.uploadsInProgress(for: "exports/a.csv").isEmpty)
            #expect(try await store.uploadsInProgress(for: "exports/a.csv.bak").count == 1)
        }

        @Test func aMissingS3BucketOrKeyIsNamedInTheError() async throws {
            let s3 = try MotoS3()
            try await s3.makeBucket("present")
            try await withTemporaryDirectory { directory in
                let parts = try S3BlobStoreTests.writeParts([100], in: directory)
                let putError = try await #require(throws: TransferError.self) {
                    try await s3.store("absent").put(concatenating: parts.paths, key: BlobKey("exports/x.csv"))
                }
                #expect(putError.description.contains("NoSuchBucket") && putError.status == 404, "\(putError)")

                let getError = try await #require(throws: TransferError.self) {
                    try await s3.store("present").localFile(for: "s3://absent/x.csv", downloadingInto: directory)
                }
                #expect(getError.description.contains("NoSuchBucket"), "\(getError)")

                let missing = try await #require(throws: FolksbaseError.self) {
                    try await s3.store("present").localFile(for: "s3://present/no/such.csv", downloadingInto: directory)
                }
                #expect(missing.code == .notFound && missing.description.contains("NoSuchKey"), "\(missing)")
                #expect(try Disk.list(directory).sorted() == parts.paths.map(Disk.name).sorted(), "nothing downloaded")

                let scheme = try await #require(throws: FolksbaseError.self) {
                    try await s3.store("present").localFile(for: "file:///etc/hosts", downloadingInto: directory)
                }
                #expect(scheme.code == .invalidInput && scheme.description.contains("not an s3:// URL"))
            }
        }

        @Test func theS3SecretNeverAppearsInErrorsOrDescriptions() async throws {
            let s3 = try MotoS3()
            var errors: [any Error] = []
            try await withTemporaryDirectory { directory in
                let parts = try S3BlobStoreTests.writeParts([100], in: directory)
                do {
                    _ = try await s3.store("absent").put(concatenating: parts.paths, key: BlobKey("x.csv"))
                } catch { errors.append(error) }
                var unreachable = s3.configuration
                unreachable.endpoint = "http://127.0.0.1:1"
                do {
                    _ = try await S3BlobStore(bucket: "b", configuration: unreachable)
                        .put(concatenating: parts.paths, key: BlobKey("x.csv"))
                } catch { errors.append(error) }
                do {
                    _ = try await s3.store("absent").localFile(for: "s3://absent/x.csv", downloadingInto: directory)
                } catch { errors.append(error) }
            }
            #expect(errors.count == 3)
            var texts = errors.flatMap { ["\($0)", String(reflecting: $0), $0.localizedDescription] }
            var dumped = ""
            dump(s3.configuration, to: &dumped)
            texts += ["\(s3.configuration)", String(reflecting: s3.configuration), dumped, "\([s3.configuration])"]
            texts.append("\(s3.store("b"))")
            for text in texts {
                #expect(!text.contains(MotoS3.secret), "\(text)")
                #expect(!text.contains(MotoS3.sessionToken), "\(text)")
            }
            #expect("\(s3.configuration)".contains("secretAccessKey: <redacted>"))
        }
    }

    /// Files of `sizes` random bytes in `directory`, and their concatenation.
    static func writeParts(_ sizes: [Int], in directory: String) throws -> (paths: [String], data: Data) {
        var paths: [String] = []
        var all = Data()
        for (index, size) in sizes.enumerated() {
            let data = try Data(randomBytes: size)
            let path = directory + String(format: "/%06d.csv", index + 1)
            try data.write(to: URL(fileURLWithPath: path))
            paths.append(path)
            all += data
        }
        return (paths, all)
    }
}

/// moto's S3 server on a free loopback port, with fake credentials, and signed requests to it.
struct MotoS3 {
    static let secret = "moto+SECRET/never-to-be-printed/0123456789"
    static let sessionToken = "moto-session-token/never-to-be-printed"
    let server: LocalServer
    let configuration: S3Configuration
    let http: HTTPClient

    init(environment: [String: String] = [:]) throws {
        server = try LocalServer(
            ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"], environment: environment)
        configuration = S3Configuration(
            endpoint: "http://127.0.0.1:\(server.port)", accessKeyID: "AKIDMOTOTEST", secretAccessKey: Self.secret,
            sessionToken: Self.sessionToken)
        var client = HTTPClient.Configuration()
        client.connectTimeout = .seconds(5)
        client.stallTimeout = .seconds(10)
        http = HTTPClient(configuration: client)
    }

    func store(_ bucket: String, prefix: String = "") -> S3BlobStore {
        S3BlobStore(bucket: bucket, prefix: prefix, configuration: configuration, http: http)
    }

    func makeBucket(_ name: String) async throws {
        try await send("PUT", "/" + name).requireSuccess("CreateBucket \(name)")
    }

    /// A signed request for `path` (`/bucket/key`), its query given as sent.
    func send(_ method: String, _ path: String, query: String = "") async throws -> HTTPResponse {
        let request = HTTPRequest(
            method: method, url: "http://127.0.0.1:\(server.port)" + path + (query.isEmpty ? "" : "?" + query))
        return try await http.send(
            configuration.signer.sign(request, payloadHash: AWSSignatureV4.emptyPayloadHash, date: Date()))
    }
}
