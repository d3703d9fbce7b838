import Foundation
import TestServers
import Testing

@testable import SpoolEngine

#if canImport(Glibc)
    import Glibc
#endif

/// The disk part of the fault suite, against the built binary: failing flush and write calls
/// (strace), a really full disk, a read-only spool, a spool of another user, and a kill at each
/// syscall boundary of one run. Every case checks that steps fail and retry or the server says
/// what is wrong and waits, that nothing partial is published, and that work resumes on its own.
///
/// `SPOOL_SWEEP_POINTS` bounds the syncfs and write kill points of the sweep (default 3; `make
/// soak` raises it); `SPOOL_WRITE_FAULT_TABLE=1` writes the outcomes to docs/faults/disk.md.
@Suite(.serialized) struct DiskFaultTests {
    /// A failed flush fails every writer waiting on it, so under a busy machine one step can meet
    /// several failures in a row; 30 retries make running out of attempts practically impossible.
    static let retryFlags = ["--backoff", "0.2", "--jitter", "0", "--retries", "30"]

    static let table = FaultTable(
        file: "disk.md", title: "Disk faults", columns: ["fault", "injection", "times", "outcome"])
    static var sweepPoints: Int { max(1, profile("SPOOL_SWEEP_POINTS", 3)) }

    @Test func flushEIOFailsStepsThatRetryUntilEveryRunCompletes() async throws {
        try await injectedErrorCase(
            number: 1, fault: "the group flush (syncfs) returns EIO", syscall: "syncfs",
            injection: "syncfs:error=EIO:when=3..90+6", error: "Input/output error")
    }

    @Test func writeENOSPCFailsStepsThatRetryUntilEveryRunCompletes() async throws {
        try await injectedErrorCase(
            number: 2, fault: "write returns ENOSPC", syscall: "write", injection: "write:error=ENOSPC:when=5..120+8",
            error: "No space left on device")
    }

    /// Ten welcome events served while strace fails some of one syscall's calls (each thread's
    /// every few calls of each thread): intake, run files and steps all meet the error, and all come through.
    /// A failure of a step's own file is a failed attempt of that step, recorded in its run (for
    /// write errors only when the write of the record itself did not fail too).
    private func injectedErrorCase(
        number: Int, fault: String, syscall: String, injection: String, error: String
    ) async throws {
        try Strace.require()
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try await DiskFaultTests.seed(binary)
        let total = 10
        let trace = workspace.directory + "/\(syscall).trace"
        let started = Date()
        let server = try ServeProcess(
            binary, under: Strace.wrapper(trace: syscall, inject: injection, output: trace), Self.retryFlags,
            log: "serve")
        defer { server.kill() }
        // Dropped once it serves, so that intake and runs share the failing calls.
        try await server.waitUntilServing()
        try ServeTests.dropWelcomes(total, for: ids, into: workspace.layout)
        try await waitUntil("all \(total) runs done despite failing \(syscall) calls", seconds: 90) {
            if let failed = try workspace.runs(in: ["failed"]).first {
                let record = try RunRecord.decode(Disk.read(failed.directory + "/" + RunFiles.record))
                throw SpoolError(.conflict, "run \(failed.id) failed: \(record.lastError?.message ?? "no error")")
            }
            return try workspace.runs(in: ["done"]).count == total
        }
        let elapsed = Date().timeIntervalSince(started)
        let status = try await server.stop()
        #expect(status == 0, "the server stops cleanly: \(server.log.suffix(2000))")

        let audit = try SpoolAudit(workspace.layout)
        audit.expectSettled(runs: total)
        let injected = Strace.injectedPaths(in: trace)
        #expect(!injected.isEmpty, "strace injected no \(syscall) error")
        let stepHits = injected.filter { $0.contains("/runs/") && $0.contains("/steps") }
        let recorded = stepHits.filter { path in audit.recordedErrors.contains { $0.contains(path + ": " + error) } }
        if syscall == "syncfs" {
            // A failed flush fails every writer waiting on it; each error names the writer's own file.
            let flushFailures = audit.recordedErrors.filter { $0.hasPrefix("syncfs ") && $0.contains(error) }
            #expect(!flushFailures.isEmpty, "no failed flush was recorded: \(audit.recordedErrors)")
        } else if syscall == "write" {
            // Recording is a write too: a hit counts as reported when the run or the server's log says
            // so, or when the writes that would have said so (the run's log.jsonl and the server's
            // log) failed as well.
            let serverLogFailed = injected.contains(server.logPath)
            let reported = stepHits.filter { hit in
                let runLog = hit.components(separatedBy: "/steps/")[0] + "/" + RunFiles.log
                return server.log.contains(hit + ": " + error) || recorded.contains(hit)
                    || (serverLogFailed && injected.contains(runLog))
            }
            #expect(
                reported == stepHits,
                "failed step writes not reported: \(stepHits) vs \(audit.recordedErrors); injected: \(injected)")
        } else {
            #expect(recorded == stepHits, "failed step calls not recorded: \(stepHits) vs \(audit.recordedErrors)")
        }
        let example = audit.recordedErrors.first { $0.hasPrefix(syscall) && $0.contains(error) } ?? "none"
        try Self.report(
            case: "\(number)",
            fault: fault,
            injection:
                "`strace -f -e inject=\(injection)` around `spool serve \(Self.retryFlags.joined(separator: " "))`, "
                + "\(total) events",
            times:
                "\(injected.count) calls failed, \(stepHits.count) of them on step files; "
                + "\(audit.stepFailures.count) failed attempts recorded; all done in \(Self.seconds(elapsed))",
            outcome:
                "failed attempts name the error (`\(Self.excerpt(example))`) and retry; " + audit.summary)
    }

    /// A 2 MiB tmpfs filled by a file while runs are queued and events arrive: the server keeps
    /// running and says what is wrong; claimed events stay; once the file is gone all completes.
    @Test func aFullDiskPausesWorkThatResumesWhenSpaceReturns() async throws {
        let workspace = try Workspace()
        try Disk.makeDirectory(workspace.spool)
        try await Mount.require(["-t", "tmpfs", "-o", "size=2m", "tmpfs", workspace.spool], for: "the full-disk case")
        defer { Mount.unmount(workspace.spool) }
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try await DiskFaultTests.seed(binary)
        let server = try ServeProcess(binary, Self.retryFlags, log: "serve")
        defer { server.kill() }
        try await Self.sendWelcome(binary, ids)
        try await waitUntil("the first run is done") { try workspace.runs(in: ["done"]).count == 1 }

        // Paused, so that runs are queued and events dropped before it sees a full disk.
        server.signal(SIGSTOP)
        var replays: [String] = []
        for _ in 0..<3 { replays.append(try await Self.replay(binary)) }
        let events = try Self.writeWelcomes(3, for: ids, in: workspace.layout.tmp)
        let filled = try Self.fill(workspace.spool + "/filler")
        #expect(Self.freeBytes(workspace.spool) == 0, "the filler leaves no room")
        for name in events {
            try Disk.rename(workspace.layout.tmp + "/" + name, workspace.layout.incoming + "/" + name)
        }
        server.signal(SIGCONT)
        let full = Date()

        // Retried at every rescan while the disk stays full: twice for each event proves it waits.
        try await waitUntil("the server reports the full disk for runs and, twice, for intake", seconds: 30) {
            let lines = server.log.split(separator: "\n").filter { $0.contains("No space left on device") }
            return lines.contains { $0.contains("could not be executed") }
                && lines.filter { $0.contains("intake") || $0.contains("claim") }.count >= 2 * events.count
        }
        #expect(server.isRunning, "the server keeps running on a full disk")
        #expect(server.log.contains("free space on the spool's file system"))
        #expect(try workspace.runs(in: ["done"]).count == 1, "nothing completes while the disk is full")
        #expect(try Set(workspace.runs(in: ["runs"]).map(\.id.rawValue)) == Set(replays), "queued runs stay queued")
        let claims = try Disk.list(workspace.layout.tmp).filter { $0.hasPrefix(".claim-") }
        for name in events {
            let kept =
                Disk.exists(workspace.layout.incoming + "/" + name) || claims.contains { $0.hasSuffix("~" + name) }
            #expect(kept, "event \(name) is still in incoming/ or claimed in tmp/")
        }
        let errors = server.log.components(separatedBy: "No space left on device").count - 1
        let fullFor = Date().timeIntervalSince(full)

        try Disk.removeFile(workspace.spool + "/filler")
        let freed = Date()
        try await waitUntil("every run completes once space returns, without a restart", seconds: 30) {
            try workspace.runs(in: ["done"]).count == 1 + replays.count + events.count
        }
        let resumed = Date().timeIntervalSince(freed)
        #expect(server.isRunning)
        let status = try await server.stop()
        #expect(status == 0)
        let audit = try SpoolAudit(workspace.layout)
        audit.expectSettled(runs: 1 + replays.count + events.count)
        try Self.report(
            case: "3",
            fault: "disk full (2 MiB tmpfs, a file filling it)",
            injection:
                "`mount -t tmpfs -o size=2m`; \(filled / 1024) KiB filler written until ENOSPC; "
                + "\(replays.count) runs queued and \(events.count) events dropped",
            times:
                "\(errors) ENOSPC errors logged in \(Self.seconds(fullFor)) of full disk; "
                + "all done \(Self.seconds(resumed)) after the filler was removed",
            outcome:
                "server kept running, logged `No space left on device (free space on the spool's file "
                + "system…)`; events stayed claimed in tmp/; no restart needed; " + audit.summary)
    }

    /// A spool on a read-only mount: `spool serve` exits at once, naming the spool and the cause.
    @Test func aReadOnlySpoolStopsTheServerWithAClearMessage() async throws {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        _ = try await DiskFaultTests.seed(binary)
        try await Mount.require(["--bind", workspace.spool, workspace.spool], for: "the read-only case")
        defer { Mount.unmount(workspace.spool) }
        try await Mount.require(["-o", "remount,bind,ro", workspace.spool], for: "the read-only case")

        let server = try ServeProcess(binary, log: "serve")
        defer { server.kill() }
        try await waitUntil("spool serve exits on a read-only spool", seconds: 20) { !server.isRunning }
        let log = workspace.log("serve")
        #expect(server.process.terminationReason == .exit, "an error exit, not a crash: \(log)")
        #expect(server.process.terminationStatus != 0)
        #expect(log.contains(workspace.spool) && log.contains("read-only"), "the message names the spool: \(log)")
        try Self.report(
            case: "4",
            fault: "read-only spool at start",
            injection: "`mount --bind` + `mount -o remount,bind,ro` on the spool",
            times: "1 start",
            outcome:
                "exit status \(server.process.terminationStatus) at once: `\(Self.excerpt(Self.lastLine(log)))`"
        )
    }

    /// A root-owned 0700 spool served by `nobody`: an immediate exit naming the spool and the cause.
    @Test func aSpoolOwnedByAnotherUserStopsTheServerWithAClearMessage() async throws {
        guard getuid() == 0 else { try Test.cancel("needs root, to run spool serve as nobody") }
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        _ = try await DiskFaultTests.seed(binary)
        chmod(workspace.directory, 0o755)
        chmod(workspace.spool, 0o700)

        let asNobody = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        guard FileManager.default.isExecutableFile(atPath: asNobody[0]) else { try Test.cancel("no setpriv") }
        let server = try ServeProcess(binary, under: asNobody, log: "serve")
        defer { server.kill() }
        try await waitUntil("spool serve exits on a spool it may not write", seconds: 20) { !server.isRunning }
        let log = workspace.log("serve")
        #expect(server.process.terminationReason == .exit, "an error exit, not a crash: \(log)")
        #expect(server.process.terminationStatus != 0)
        #expect(log.contains(workspace.spool), "the message names the spool: \(log)")
        #expect(log.contains("Permission denied") && log.contains("owner"), "and the cause: \(log)")
        try Self.report(
            case: "5",
            fault: "spool owned by another user",
            injection: "root-owned spool, mode 0700; `setpriv --reuid=nobody --regid=nogroup spool serve`",
            times: "1 start",
            outcome:
                "exit status \(server.process.terminationStatus) at once: `\(Self.excerpt(Self.lastLine(log)))`"
        )
    }

    /// `spool serve` killed at the Nth rename, renameat2, syncfs or write of a thread (strace counts
    /// per thread), then a normal server that must finish the work exactly once. Two starting
    /// points, since the calls of intake come first: one event in incoming/, and one queued run.
    /// Every rename point is tried; syncfs and write up to `SPOOL_SWEEP_POINTS` each.
    @Test func aKillAtEachSyscallBoundaryOfARunStillCompletesItOnce() async throws {
        try Strace.require()
        let workspace = try Workspace()
        let bases = try await Sweep.bases(in: workspace.directory)
        var rows: [(fault: String, injection: String, times: String, outcome: String)] = []
        var summary: [String] = []
        var total = 0
        var killed = 0
        var clean = true
        let started = Date()
        for (label, base) in [("an event in incoming/", bases.event), ("a queued run", bases.run)] {
            let census = try await Sweep.census(copying: base, into: base + "-census")
            #expect(Set(census.keys) == ["rename", "renameat2", "syncfs", "write"], "census from \(label): \(census)")
            var points: [(syscall: String, n: Int)] = []
            for syscall in ["rename", "renameat2"] {
                points += (1...max(1, census[syscall] ?? 1)).map { (syscall, $0) }
            }
            for syscall in ["syncfs", "write"] {
                points += Sweep.spread(census[syscall] ?? 1, over: Self.sweepPoints).map { (syscall, $0) }
            }
            for (syscall, n) in points {
                let point = try await Sweep.run(syscall, n, copying: base, into: base + "-\(syscall)-\(n)")
                if point.killedAt != nil { killed += 1 }
                clean = clean && point.audit.isClean
                rows.append(
                    (
                        "kill -9 at \(syscall) #\(n) of a thread, from \(label)",
                        "`strace -f -e inject=\(syscall):signal=KILL:when=\(n)`",
                        point.killedAt.map { "killed at \($0); restart done in \(Self.seconds(point.restart))" }
                            ?? "not reached: the run finished first",
                        point.audit.summary
                    ))
            }
            total += points.count
            let calls = census.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            summary.append("from \(label): \(points.count) points (most calls of one thread: \(calls))")
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(killed > total / 2, "most points should kill the server mid-run: \(killed) of \(total)")
        try Self.report(
            case: "6", fault: "kill sweep: \(total) points, \(killed) kills",
            injection: "a fresh copy of the spool per point; " + summary.joined(separator: "; "),
            times: "sweep took \(Self.seconds(elapsed))",
            outcome: clean
                ? "every point: the run completed exactly once after a restart; nothing partial, nothing pending"
                : "FAILED: see the rows below")
        for row in rows {
            try Self.report(
                case: "6", fault: row.fault, injection: row.injection, times: row.times, outcome: row.outcome)
        }
    }
}

extension DiskFaultTests {
    /// A row of docs/faults/disk.md's table; the file is rewritten after each (when asked to).
    static func report(case number: String, fault: String, injection: String, times: String, outcome: String) throws {
        table.add(number + " · " + fault, injection, times, outcome)
        try table.write()
    }

    /// `spool demo seed`, as `ServeTests.seed` but without holding a thread of the pool.
    static func seed(_ binary: SpoolBinary) async throws -> DemoIDs {
        let output = try await binary.runOffPool(["demo", "seed"])
        #expect(output.status == 0, "demo seed failed: \(output.stderr)")
        return try JSONDecoder().decode(DemoIDs.self, from: Data(output.stdout.utf8))
    }

    /// `spool send` of one welcome event.
    static func sendWelcome(_ binary: SpoolBinary, _ ids: DemoIDs) async throws {
        let sent = try await binary.runOffPool([
            "send", "user/signed.up", "--data", #"{"userId":"\#(ids.userId)","workspaceId":"\#(ids.workspaceId)"}"#,
        ])
        #expect(sent.status == 0, "\(sent.stderr)")
    }

    /// `spool replay` of the first run in done/: a new queued run of the same event; returns its id.
    static func replay(_ binary: SpoolBinary) async throws -> String {
        let done = try RunLocator(layout: SpoolLayout(root: binary.spool)).all(in: ["done"])
        let original = try #require(done.first)
        let replayed = try await binary.runOffPool(["replay", original.id.rawValue])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        return replayed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes welcome events into `folder` (a producer's staging); returns their names.
    static func writeWelcomes(_ count: Int, for ids: DemoIDs, in folder: String) throws -> [String] {
        try (0..<count).map { index in
            let name = "full-\(index).json"
            let body =
                #"{"name":"user/signed.up","data":{"userId":"\#(ids.userId)","workspaceId":"\#(ids.workspaceId)","n":\#(index)}}"#
            try Data(body.utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
            return name
        }
    }

    /// Writes zeros to `path` until the file system refuses with ENOSPC; returns the bytes written.
    static func fill(_ path: String) throws -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError.system("open", path: path) }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 64 << 10)
        var total = 0
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                total += n
                continue
            }
            if errno == ENOSPC { return total }
            throw SpoolError.system("write", path: path)
        }
    }

    static func freeBytes(_ path: String) -> Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return -1 }
        return Int(info.f_bavail) * Int(info.f_bsize)
    }

    static func seconds(_ interval: TimeInterval) -> String { String(format: "%.1f s", interval) }

    static func lastLine(_ log: String) -> String {
        log.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// A message cut for a table cell, with the test's temp paths shortened.
    static func excerpt(_ message: String, limit: Int = 160) -> String {
        var text = message.replacingOccurrences(
            of: #"/tmp/spool-e2e-[0-9A-F-]+/"#, with: "…/", options: .regularExpression)
        text = text.replacingOccurrences(of: "|", with: "\\|")
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}

/// `spool serve`, run directly or under a wrapper (strace, setpriv); signals go to the server itself.
final class ServeProcess {
    let process: Process
    private let traced: Bool
    let logPath: String

    init(_ binary: SpoolBinary, under wrapper: [String] = [], _ extra: [String] = [], log name: String) throws {
        let process = Process()
        let serve = ["serve", "--spool", binary.spool, "--rescan-seconds", "0.5"] + extra
        if let tool = wrapper.first {
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = Array(wrapper.dropFirst()) + [binary.path] + serve
        } else {
            process.executableURL = URL(fileURLWithPath: binary.path)
            process.arguments = serve
        }
        let logPath = binary.spool + "-" + name + ".log"
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try log.close()
        self.process = process
        self.traced = wrapper.first.map { $0.hasSuffix("strace") } ?? false
    }

    var isRunning: Bool { process.isRunning }

    /// The server's pid: strace's child when traced; setpriv execs, so it is the process itself.
    var serverPID: pid_t? {
        guard traced else { return process.processIdentifier }
        let pid = process.processIdentifier
        let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)
        return children?.split(separator: " ").first.flatMap { pid_t($0) }
    }

    func signal(_ signal: Int32) {
        if let pid = serverPID { Glibc.kill(pid, signal) }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for the server to log that it serves (the line may be lost when
    /// writes fail, so a timeout is no error).
    func waitUntilServing(seconds: Double = 10) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && !log.contains("[SpoolEngine] serving ") && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGTERM to the server (strace blocks it), then waits for the exit; returns the exit status.
    /// A server still starting is first given time to finish (its recovery, its signal handlers).
    func stop(seconds: Double = 30) async throws -> Int32 {
        try await waitUntilServing(seconds: 5)
        if isRunning { signal(SIGTERM) }
        try await waitUntil("the server exits after SIGTERM", seconds: seconds) { !process.isRunning }
        return process.terminationStatus
    }

    /// Kills the server and its wrapper (for `defer`).
    func kill() {
        guard process.isRunning else { return }
        signal(SIGKILL)
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// strace as the fault injector (CONVENTIONS.md): one syscall traced and tampered with, each
/// affected call marked `(INJECTED)` in the trace. Counts are per syscall and per thread.
enum Strace {
    static let path = ["/usr/bin/strace", "/bin/strace"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func require() throws {
        if path == nil { try Test.cancel("strace is not installed (.ci/run installs it with apt)") }
    }

    static func wrapper(trace syscalls: String, inject: String?, output: String) -> [String] {
        [path!, "-f", "-y", "-o", output, "-e", "trace=" + syscalls] + (inject.map { ["-e", "inject=" + $0] } ?? [])
    }

    /// The trace's lines, each `<thread id> <call or event>` without strace's padding around the id.
    static func lines(_ trace: String) -> [String] {
        ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n").map { line in
            let trimmed = line.drop { $0 == " " }
            guard let space = trimmed.firstIndex(of: " ") else { return String(trimmed) }
            return trimmed[..<space] + " " + trimmed[space...].drop { $0 == " " }
        }
    }

    /// The file (`-y`'s `<path>`) of each call that failed by injection.
    static func injectedPaths(in trace: String) -> [String] {
        lines(trace).filter { $0.hasSuffix("(INJECTED)") }.map { line in
            guard let open = line.firstIndex(of: "<"), let close = line[open...].firstIndex(of: ">") else { return "?" }
            return String(line[line.index(after: open)..<close])
        }
    }

    /// The call a `signal=KILL` injection stopped, shortened: `rename → runs/<run>/steps/fetch-user.json`.
    static func killedCall(in trace: String, spool: String) -> String? {
        let lines = lines(trace)
        guard lines.contains(where: { $0.contains("+++ killed by SIGKILL +++") }) else { return nil }
        // The killed call never returns: its line (or its `resumed` line) ends in `= ?`.
        guard let unfinished = lines.firstIndex(where: { $0.hasSuffix("= ?") }) else { return "an unknown call" }
        var line = lines[unfinished]
        if line.contains("resumed>"), let thread = line.split(separator: " ").first {
            line =
                lines[..<unfinished].last(where: { $0.hasPrefix(thread + " ") && $0.hasSuffix("<unfinished ...>") })
                ?? line
        }
        let call = line.split(separator: " ", maxSplits: 1).last.map { $0.prefix { $0 != "(" } } ?? "?"
        let target: String
        if call.hasPrefix("rename") {
            let quoted = line.split(separator: "\"")
            target = quoted.count >= 4 ? String(quoted[3]) : "?"
        } else if let open = line.firstIndex(of: "<"), let close = line[open...].firstIndex(of: ">") {
            target = String(line[line.index(after: open)..<close])
        } else {
            target = "?"
        }
        if target == spool { return "\(call) → the spool's root" }
        let shortened =
            target
            .replacingOccurrences(of: spool + "/", with: "")
            .replacingOccurrences(of: spool + "-", with: "spool-")
            .replacingOccurrences(
                of: #"\d{8}T\d{6}\.\d{3}Z-send-welcome-[0-9a-f]{8}"#, with: "<run>", options: .regularExpression
            )
            .replacingOccurrences(of: #"\.tmp-[0-9a-z-]+"#, with: ".tmp-…", options: .regularExpression)
            .replacingOccurrences(of: #"\d{4}-\d{2}-\d{2}/"#, with: "<day>/", options: .regularExpression)
            .replacingOccurrences(of: #"\.claim-[^~]*~"#, with: ".claim-…~", options: .regularExpression)
            .replacingOccurrences(
                of: #"outbox/\.?<run>-send-welcome-email[^ ]*\.eml"#, with: "outbox/<message>.eml",
                options: .regularExpression)
        return "\(call) → \(shortened)"
    }
}

/// The kill sweep: one point is a fresh copy of a base spool, a server killed by strace at one
/// syscall, then a normal server that must finish the work exactly once.
enum Sweep {
    struct Point {
        /// Where the kill landed, or nil when the run finished before the Nth call.
        var killedAt: String?
        var restart: TimeInterval
        var audit: SpoolAudit
    }

    /// Two spools to copy: one holding a welcome event (with an id) in incoming/, one holding a
    /// queued run of the same event. Both have served once, so cron state and folders exist.
    static func bases(in directory: String) async throws -> (event: String, run: String) {
        let spool = directory + "/prepared/spool"
        let binary = try SpoolBinary(spool: spool)
        let ids = try await DiskFaultTests.seed(binary)
        let layout = SpoolLayout(root: spool)
        try dropSignup(ids, into: layout)
        let server = try ServeProcess(binary, log: "prepare")
        defer { server.kill() }
        try await waitUntil("the prepared spool's run is done", seconds: 30) { try doneRuns(spool) == 1 }
        _ = try await server.stop()

        let run = try copy(spool, into: directory + "/run")
        let replayed = try await SpoolBinary(spool: run).runOffPool(["replay", try only(in: run).id.rawValue])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        let event = try copy(spool, into: directory + "/event")
        try Disk.removeTree(SpoolLayout(root: event).ids)
        try Disk.makeDirectory(SpoolLayout(root: event).ids)
        try dropSignup(ids, into: SpoolLayout(root: event))
        for base in [run, event] {
            try Disk.removeTree(try only(in: base).directory)
            try Disk.removeTree(base + "/outbox")
        }
        return (event, run)
    }

    static func dropSignup(_ ids: DemoIDs, into layout: SpoolLayout) throws {
        let event =
            #"{"name":"user/signed.up","id":"sweep-signup","data":{"userId":"\#(ids.userId)","workspaceId":"\#(ids.workspaceId)"}}"#
        try Data(event.utf8).write(to: URL(fileURLWithPath: layout.tmp + "/signup.json"))
        try Disk.rename(layout.tmp + "/signup.json", layout.incoming + "/signup.json")
    }

    static func only(in spool: String) throws -> RunLocation {
        try #require(try RunLocator(layout: SpoolLayout(root: spool)).all(in: ["done"]).first)
    }

    /// The most calls one thread makes of each swept syscall while serving the base spool once.
    static func census(copying base: String, into directory: String) async throws -> [String: Int] {
        let spool = try copy(base, into: directory)
        let binary = try SpoolBinary(spool: spool)
        let trace = spool + ".trace"
        let server = try ServeProcess(
            binary, under: Strace.wrapper(trace: "rename,renameat2,syncfs,write", inject: nil, output: trace),
            log: "census")
        defer { server.kill() }
        try await waitUntil("the census run is done", seconds: 30) { try doneRuns(spool) == 1 }
        _ = try await server.stop()
        var counts: [String: [Substring: Int]] = [:]
        for line in Strace.lines(trace) {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let call = parts[1].split(separator: "(", maxSplits: 1).first,
                ["rename", "renameat2", "syncfs", "write"].contains(call)
            else { continue }
            counts[String(call), default: [:]][parts[0], default: 0] += 1
        }
        return counts.mapValues { $0.values.max() ?? 1 }
    }

    /// `count` points spread evenly over 1…`total` (all of them when there are few).
    static func spread(_ total: Int, over count: Int) -> [Int] {
        guard total > count else { return Array(1...max(1, total)) }
        return (1...count).map { Int((Double($0) * Double(total) / Double(count + 1)).rounded(.up)) }
    }

    /// One point: a copy of `base` served until strace kills the server at the `n`th `syscall` of
    /// a thread (or the run is done), then served again until the run is done, and audited.
    static func run(_ syscall: String, _ n: Int, copying base: String, into directory: String) async throws -> Point {
        let spool = try copy(base, into: directory)
        let binary = try SpoolBinary(spool: spool)
        let trace = spool + ".trace"
        let faulty = try ServeProcess(
            binary, under: Strace.wrapper(trace: syscall, inject: "\(syscall):signal=KILL:when=\(n)", output: trace),
            log: "killed")
        defer { faulty.kill() }
        try await waitUntil("the kill at \(syscall) #\(n), or the run done", seconds: 30) {
            try !faulty.isRunning || doneRuns(spool) == 1
        }
        if faulty.isRunning { _ = try await faulty.stop() }
        let killedAt = Strace.killedCall(in: trace, spool: spool)
        #expect(
            killedAt != nil || faulty.process.terminationStatus == 0,
            "\(syscall) #\(n): the server ended without the injected kill: \(faulty.process.terminationStatus)")

        let started = Date()
        let restarted = try ServeProcess(binary, log: "restart")
        defer { restarted.kill() }
        try await waitUntil("the run is done after the kill at \(syscall) #\(n)", seconds: 30) {
            try doneRuns(spool) == 1
        }
        let restart = Date().timeIntervalSince(started)
        let status = try await restarted.stop()
        #expect(status == 0, "\(syscall) #\(n): the restarted server stops cleanly")
        let audit = SpoolAudit.expectSettled(SpoolLayout(root: spool), runs: 1, context: "\(syscall) #\(n)")
        #expect(
            try Disk.listVisible(SpoolLayout(root: spool).ids).count == 1, "\(syscall) #\(n): one event-id marker")
        return Point(killedAt: killedAt, restart: restart, audit: audit)
    }

    static func copy(_ base: String, into directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let spool = directory + "/spool"
        try FileManager.default.copyItem(atPath: base, toPath: spool)
        return spool
    }

    static func doneRuns(_ spool: String) throws -> Int {
        try RunLocator(layout: SpoolLayout(root: spool)).all(in: ["done"]).count
    }
}

/// What a spool holds after a fault, and the invariants every case checks once work is over.
struct SpoolAudit {
    var done: [RunLocation] = []
    var unfinished: [String] = []
    var emails = 0
    /// Visible files in `steps/` or `on-failure/` that are not a step result parsing as `{"data": …}`.
    var badStepFiles: [String] = []
    /// Temp files (`.<name>.tmp-…`) left anywhere in a run's folders.
    var tempFiles: [String] = []
    /// `run: step` for each step logged as completed more than once, or done without its file.
    var stepProblems: [String] = []
    /// Claims, staging directories and files still in `incoming/`: work not yet taken.
    var pendingIntake: [String] = []
    var stepFailures: [RunLogEntry] = []
    /// The errors of failed attempts: log.jsonl's stepFailed entries and run.json's lastError.
    var recordedErrors: [String] = []

    init(_ layout: SpoolLayout) throws {
        let locator = RunLocator(layout: layout)
        done = try locator.all(in: ["done"])
        unfinished = try locator.all(in: ["runs", "failed", "cancelled"]).map { "\($0.folder)/\($0.id)" }
        emails = try Disk.listVisible(layout.root + "/outbox").filter { $0.hasSuffix(".eml") }.count
        pendingIntake =
            try Disk.list(layout.tmp).filter { $0.hasPrefix(".claim-") }.map { "tmp/" + $0 }
            + Disk.list(layout.runs).filter { $0.hasPrefix(".stage-") }.map { "runs/" + $0 }
            + Disk.listVisible(layout.incoming).map { "incoming/" + $0 }
            + Disk.listVisible(layout.tmp).map { "tmp/" + $0 }
        for run in done {
            let record = try RunRecord.read(from: run.directory + "/" + RunFiles.record)
            if record.status != .completed { unfinished.append("\(run.id) is \(record.status.rawValue) in done/") }
            if let error = record.lastError { recordedErrors.append(error.message) }
            let log = RunLog.read(run.directory + "/" + RunFiles.log)
            stepFailures += log.filter { $0.kind == .stepFailed }
            recordedErrors += log.filter { $0.kind == .stepFailed }.compactMap(\.error)
            var completions: [String: Int] = [:]
            for entry in log where entry.kind == .stepCompleted { completions[entry.step ?? "?", default: 0] += 1 }
            for (step, count) in completions where count > 1 { stepProblems.append("\(run.id): \(step) ×\(count)") }
            for step in ["fetch-user", "send-welcome-email"]
            where !Disk.exists(run.directory + "/steps/" + step + ".json") {
                stepProblems.append("\(run.id): no steps/\(step).json")
            }
            let folders = [run.directory] + (try Disk.list(run.directory)).map { run.directory + "/" + $0 }
            for folder in folders where Disk.isDirectory(folder) {
                for name in try Disk.list(folder) where name.contains(".tmp-") {
                    tempFiles.append(folder.replacingOccurrences(of: layout.root + "/", with: "") + "/" + name)
                }
            }
            for folder in [RunFiles.steps, RunFiles.onFailureSteps] {
                for name in try Disk.listVisible(run.directory + "/" + folder) {
                    let path = run.directory + "/" + folder + "/" + name
                    let object = try? JSONSerialization.jsonObject(with: Disk.read(path)) as? [String: Any]
                    if !name.hasSuffix(".json") || object?["data"] == nil { badStepFiles.append("\(run.id)/\(name)") }
                }
            }
        }
    }

    /// Audits the spool and expects `runs` runs done once each, one email each, nothing partial.
    @discardableResult
    static func expectSettled(
        _ layout: SpoolLayout, runs: Int, context: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) -> SpoolAudit {
        do {
            let audit = try SpoolAudit(layout)
            audit.expectSettled(runs: runs, context: context, sourceLocation: sourceLocation)
            return audit
        } catch {
            Issue.record(error, "\(context): the spool could not be audited", sourceLocation: sourceLocation)
            return SpoolAudit()
        }
    }

    private init() {}

    func expectSettled(runs: Int, context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        let prefix = context.isEmpty ? "" : context + ": "
        #expect(done.count == runs, "\(prefix)runs done", sourceLocation: sourceLocation)
        #expect(unfinished.isEmpty, "\(prefix)runs not completed: \(unfinished)", sourceLocation: sourceLocation)
        #expect(emails == runs, "\(prefix)one email per run", sourceLocation: sourceLocation)
        #expect(
            badStepFiles.isEmpty, "\(prefix)step files that do not parse: \(badStepFiles)",
            sourceLocation: sourceLocation)
        #expect(tempFiles.isEmpty, "\(prefix)temp files left in runs: \(tempFiles)", sourceLocation: sourceLocation)
        #expect(stepProblems.isEmpty, "\(prefix)\(stepProblems)", sourceLocation: sourceLocation)
        #expect(pendingIntake.isEmpty, "\(prefix)intake left behind: \(pendingIntake)", sourceLocation: sourceLocation)
    }

    /// Whether every invariant of `expectSettled` holds, the count of runs aside.
    var isClean: Bool {
        unfinished.isEmpty && emails == done.count && badStepFiles.isEmpty && tempFiles.isEmpty
            && stepProblems.isEmpty && pendingIntake.isEmpty
    }

    /// The outcome for the table.
    var summary: String {
        var facts = [
            "\(done.count) run\(done.count == 1 ? "" : "s") completed, \(emails) email\(emails == 1 ? "" : "s")"
        ]
        facts.append(stepProblems.isEmpty ? "each step completed once" : "step problems: \(stepProblems.count)")
        if !badStepFiles.isEmpty { facts.append("\(badStepFiles.count) unparsable step files") }
        if !tempFiles.isEmpty { facts.append("\(tempFiles.count) temp files left") }
        facts.append(
            pendingIntake.isEmpty && unfinished.isEmpty ? "nothing pending" : "pending: \(pendingIntake + unfinished)")
        return facts.joined(separator: "; ")
    }
}

/// mount(8) for the cases that need a file system of their own.
enum Mount {
    /// Mounts, or cancels the test with the reason (not root, no mount permission in a container).
    static func require(_ arguments: [String], for what: String) async throws {
        let (status, output) = try await offPool { run(["mount"] + arguments) }
        if status != 0 {
            try Test.cancel("\(what) needs `mount \(arguments.joined(separator: " "))` (root): \(output)")
        }
    }

    static func unmount(_ path: String) {
        if run(["umount", path]).status != 0 { _ = run(["umount", "-l", path]) }
    }

    @discardableResult
    static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

extension SpoolBinary {
    /// `run`, on a thread of its own (see `offPool`).
    func runOffPool(_ arguments: [String]) async throws -> Output {
        try await offPool { [self] in try run(arguments) }
    }
}

/// Runs blocking work (a child process to its end, mount(8)) on a thread of its own, so that it
/// holds none of the few threads of the cooperative pool the other suites' tests share.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
