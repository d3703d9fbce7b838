import Foundation
import Testing

/// Commands that need no server: their output and their errors.
@Suite struct CommandTests {
    @Test func cronNextPrintsUTCTimes() throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let output = try binary.run(["cron", "next", "0 8 * * 1", "--after", "2026-11-29T00:00:00Z", "--count", "3"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(
            output.stdout.split(separator: "\n") == [
                "2026-11-30T08:00:00Z", "2026-12-07T08:00:00Z", "2026-12-14T08:00:00Z",
            ])
    }

    @Test func badInputGetsAClearErrorAndANonZeroExit() throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let cases: [([String], String)] = [
            (["cron", "next", "61 * * * *"], "minute"),
            (["send", "x/y", "--data", "{nope"], "not valid JSON"),
            (["send", "x/y", "--data", "[1]"], "must be a JSON object"),
            (["send", "", "--data", "{}"], "name"),
            (["show", "../etc"], "not a run id"),
            (["cron", "next", "0 0 31 2 *"], "never fires"),
        ]
        for (arguments, expected) in cases {
            let output = try binary.run(arguments)
            #expect(output.status != 0, "\(arguments) should fail")
            #expect(output.stderr.contains(expected), "\(arguments): \(output.stderr)")
            #expect(!output.stderr.contains("Usage:"), "an error found while running is no misuse: \(output.stderr)")
        }
        for arguments in [["cron"], ["--help"], ["help"], ["help", "send"], ["send", "--help"], ["cron", "--help"]] {
            let help = try binary.run(arguments)
            #expect(
                help.status == 0 && help.stdout.hasPrefix("OVERVIEW") && help.stderr.isEmpty,
                "\(arguments): help goes to stdout: \(help.stderr)")
        }
        let negative = try binary.run(["serve", "--concurrency", "-1"])
        #expect(negative.status == 64 && negative.stderr.contains("at least 1"), "\(negative.stderr)")
        let sender = try binary.run(["serve", "--mail-from", "nobody"])
        #expect(sender.status == 64 && sender.stderr.contains("the sender \"nobody\""), "\(sender.stderr)")
        for option in ["--backoff", "--jitter", "--rescan-seconds"] {
            let serve = try binary.run(["serve", option, "inf"])
            #expect(serve.status == 64 && serve.stderr.contains("no greater than a year"), "\(option): \(serve.stderr)")
        }
        let unknown = try binary.run(["help", "nosuch"])
        #expect(unknown.status == 64 && unknown.stderr.contains(#"no command "nosuch""#), "\(unknown.stderr)")
        let noRun = try binary.run(["runs", "--status", "bogus"])
        #expect(noRun.status != 0 && noRun.stderr.contains("Usage: spool runs"), "a misuse shows its command's usage")
        let missing = try SpoolBinary(spool: workspace.directory + "/nowhere").run(["runs"])
        #expect(
            missing.status != 0 && missing.stderr.contains("no spool at \(workspace.directory)/nowhere (from --spool"))
    }

    @Test func anImportForAWorkspaceThatDoesNotExistStoresNoCopyOfTheFile() throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        #expect(try binary.run(["demo", "seed"]).status == 0)
        let csv = workspace.directory + "/c.csv"
        try Data("email\na@example.com\n".utf8).write(to: URL(fileURLWithPath: csv))
        let output = try binary.run(["import", csv, "--workspace", "ws_nope", "--user", "usr_nope", "--no-wait"])
        #expect(output.status != 0 && output.stderr.contains("workspace ws_nope does not exist"), "\(output.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.spool + "/blobs/imports"))
    }

    @Test func sendWarnsOfANewSpoolAndOfAnEventNoFunctionHandles() throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let first = try binary.run(["send", "user/signed.upp", "--data", "{}"])
        #expect(first.status == 0, "the event is still written: \(first.stderr)")
        #expect(first.stderr.contains("had no spool: made one"))
        #expect(first.stderr.contains(#"no function handles "user/signed.upp""#))
        let second = try binary.run(["send", "user/signed.up", "--data", #"{"userId":"u"}"#, "--id", "signup-u"])
        #expect(second.status == 0 && second.stderr.isEmpty, "\(second.stderr)")
    }

    @Test func sendWritesOneFileIntoIncomingAndPrintsItsID() throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let output = try binary.run(["send", "user/signed.up", "--data", #"{"userId":"u"}"#, "--id", "signup-u"])
        #expect(output.status == 0)
        #expect(output.stdout == "signup-u\n")
        let files = try FileManager.default.contentsOfDirectory(atPath: workspace.spool + "/incoming")
        #expect(files.count == 1)
        let body = try String(contentsOfFile: workspace.spool + "/incoming/" + files[0], encoding: .utf8)
        #expect(body.contains(#""id":"signup-u""#) && body.contains(#""name":"user/signed.up""#))
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.spool + "/tmp").isEmpty)
    }
}
