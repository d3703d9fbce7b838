import Foundation
import TestServers
import Testing

@testable import SpoolEngine

/// The binary against real servers on loopback: an HTTP file server, moto's S3, an SMTP sink.
@Suite(.serialized) struct NetworkTests {
    static let servers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Servers").path
    static let fastRetries = ["--backoff", "0.2", "--jitter", "0", "--retries", "3"]

    static func python(_ script: String, _ arguments: [String] = [], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ServerError("python exited \(process.terminationStatus)") }
    }

    /// The file is served as `run.json`: downloaded into its own folder, it leaves the run's record alone.
    @Test func anImportFromAnHTTPURLRetriesAFailedDownloadThenCompletes() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let files = workspace.directory + "/served"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        let generated = try binary.run([
            "demo", "csv", "--rows", "2000", "--seed", "5", "--out", files + "/run.json",
        ])
        let http = try LocalServer(["python3", Self.servers + "/http_server.py", "{port}", files])
        let server = try binary.serve(Self.fastRetries, log: "serve")
        defer { server.stop(SIGKILL) }

        let url = "http://127.0.0.1:\(http.port)/fail-once/run.json"
        let output = try binary.run(["import", url, "--workspace", ids.workspaceId, "--user", ids.userId])
        #expect(output.status == 0, "\(output.stdout) \(output.stderr) \(workspace.log("serve"))")
        #expect(output.stdout.contains("status completed: 2000 rows"))
        let run = try #require(try workspace.runs(in: ["done"]).first)
        let failures = RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .stepFailed }
        #expect(failures.map(\.step) == ["download-and-chunk"])
        #expect(failures.first?.error?.contains("HTTP 503") == true)
        #expect(try RunRecord.read(from: run.directory + "/run.json").status == .completed)
        #expect(try Disk.read(run.directory + "/download/run.json") == Disk.read(files + "/run.json"))
        let imported = output.stdout.split(separator: "\n").first { $0.hasPrefix("status") } ?? ""
        #expect(generated.stderr.contains(imported.split(separator: " ")[4] + " valid unique emails"), "\(imported)")
        server.stop(SIGTERM)
    }

    /// A 404 does not change with retries: the import fails at once and says why (the scheme's case does not matter).
    @Test func anImportOfAURLThatIsNotThereFailsAtOnceSayingWhy() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let files = workspace.directory + "/served"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        let http = try LocalServer(["python3", Self.servers + "/http_server.py", "{port}", files])
        let server = try binary.serve(Self.fastRetries, log: "serve")
        defer { server.stop(SIGKILL) }

        let url = "HTTP://127.0.0.1:\(http.port)/missing.csv"
        let output = try binary.run(["import", url, "--workspace", ids.workspaceId, "--user", ids.userId])
        #expect(output.status != 0)
        #expect((output.stdout + output.stderr).contains("404"), "\(output.stdout) \(output.stderr)")
        let run = try #require(try workspace.runs(in: ["failed"]).first)
        let record = try RunRecord.read(from: run.directory + "/run.json")
        #expect(record.lastError?.nonRetriable == true && record.lastError?.step == "download-and-chunk")
        #expect(RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .started }.count == 1)
        server.stop(SIGTERM)
    }

    @Test(.enabled(if: LocalServer.hasPythonModule("moto")))
    func anExportArrivesInTheBucketByteIdenticalToItsParts() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let s3 = try LocalServer(["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"])
        let endpoint = "http://127.0.0.1:\(s3.port)"
        let aws = [
            "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret-do-not-print",
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
        ]
        try Self.python(
            "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1]).create_bucket(Bucket='folksbase')",
            [endpoint], environment: aws)
        let csv = workspace.directory + "/contacts.csv"
        _ = try binary.run(["demo", "csv", "--rows", "80000", "--seed", "8", "--out", csv])
        let remote = ["--blob-url", "s3://folksbase/prod"]
        let server = try binary.serve(remote, environment: aws, log: "serve")
        defer { server.stop(SIGKILL) }

        let imported = try binary.run(
            ["import", csv, "--workspace", ids.workspaceId, "--user", ids.userId] + remote, environment: aws)
        #expect(imported.status == 0, "\(imported.stderr) \(workspace.log("serve"))")
        let exported = try binary.run(
            ["export", "--workspace", ids.workspaceId, "--user", ids.userId] + remote, environment: aws)
        #expect(exported.status == 0, "\(exported.stderr) \(workspace.log("serve"))")
        let url = try #require(exported.stdout.split(separator: "\n").first { $0.hasPrefix("file ") }).dropFirst(5)
        #expect(url.hasPrefix("s3://folksbase/prod/exports/"))

        let downloaded = workspace.directory + "/downloaded.csv"
        try Self.python(
            "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1]).download_file('folksbase', sys.argv[2], sys.argv[3])",
            [endpoint, String(url.dropFirst("s3://folksbase/".count)), downloaded], environment: aws)
        let run = try #require(try workspace.runs(in: ["done"]).first { $0.id.rawValue.contains("process-export") })
        var local = Data()
        for part in try Disk.listVisible(run.directory + "/parts").sorted() {
            local += try Disk.read(run.directory + "/parts/" + part)
        }
        #expect(local.count > 5 << 20, "big enough for a multipart upload")
        #expect(try Disk.read(downloaded) == local, "the object in the bucket is the local export, byte for byte")
        let spoolFiles = try FileManager.default.subpathsOfDirectory(atPath: workspace.spool)
        for path in spoolFiles where path.hasSuffix(".json") || path.hasSuffix(".jsonl") {
            let text = String(decoding: try Disk.read(workspace.spool + "/" + path), as: UTF8.self)
            #expect(!text.contains("test-secret-do-not-print"), "\(path) holds the secret")
        }
        server.stop(SIGTERM)
    }

    @Test(.enabled(if: LocalServer.hasPythonModule("aiosmtpd")))
    func aWelcomeEmailGoesOutOverSMTPOnceAfterATransientRefusal() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try ServeTests.seed(binary)
        let maildir = workspace.directory + "/maildir"
        try FileManager.default.createDirectory(atPath: maildir, withIntermediateDirectories: true)
        let smtp = try LocalServer([
            "python3", Self.servers + "/smtp_sink.py", "{port}", maildir, "--auth", "mailer:s3cret-pw",
            "--fail-data-once",
        ])
        let mail = [
            "SPOOL_SMTP_URL": "smtp://127.0.0.1:\(smtp.port)", "SPOOL_SMTP_USER": "mailer",
            "SPOOL_SMTP_PASSWORD": "s3cret-pw", "SPOOL_MAIL_FROM": "Folksbase <hello@folksbase.test>",
        ]
        let server = try binary.serve(Self.fastRetries, environment: mail, log: "serve")
        defer { server.stop(SIGKILL) }
        _ = try binary.run([
            "send", "user/signed.up", "--data", #"{"userId":"\#(ids.userId)","workspaceId":"\#(ids.workspaceId)"}"#,
        ])
        try await waitUntil("the welcome run is done") { try workspace.runs(in: ["done"]).count == 1 }
        server.stop(SIGTERM)

        let received = try Disk.listVisible(maildir).filter { $0.hasSuffix(".eml") }
        #expect(received.count == 1, "one message, though the first DATA was refused")
        let message = String(decoding: try Disk.read(maildir + "/" + received[0]), as: UTF8.self)
        #expect(message.contains("From: Folksbase <hello@folksbase.test>"))
        #expect(message.contains("To: Demo User <demo@folksbase.test>"))
        #expect(message.contains("Subject: Welcome to Folksbase"))
        let run = try #require(try workspace.runs(in: ["done"]).first)
        #expect(message.contains("Message-ID: <\(run.id.rawValue)"))
        #expect(try !Disk.exists(workspace.spool + "/outbox") || Disk.listVisible(workspace.spool + "/outbox").isEmpty)
        let failures = RunLog.read(run.directory + "/log.jsonl").filter { $0.kind == .stepFailed }
        #expect(failures.map(\.step) == ["send-welcome-email"])
        for path in try FileManager.default.subpathsOfDirectory(atPath: workspace.spool)
        where !path.hasPrefix("folksbase.sqlite") && !Disk.isDirectory(workspace.spool + "/" + path) {
            let text = String(decoding: try Disk.read(workspace.spool + "/" + path), as: UTF8.self)
            #expect(!text.contains("s3cret-pw"), "\(path) holds the SMTP password")
        }
        #expect(!workspace.log("serve").contains("s3cret-pw"))
    }
}
