import Foundation
import Testing

@testable import SpoolEngine

#if canImport(Glibc)
    import Glibc
#endif

/// The bad-input part of the fault suite: each kind of bad input is dropped on one real
/// `spool serve` per group, interleaved with good welcome events. Every row must end as its table
/// says (rejected with a reason, a run that fails cleanly, ignored, deduplicated, an import with
/// row errors…), the server must stay up, and every good event must complete meanwhile.
///
/// With `SPOOL_WRITE_FAULT_TABLE=1` the observed table is written to `docs/faults/bad-input.md`.
@Suite struct BadInputTests {
    @Test func eventFiles() async throws {
        try await BadInputGroup.run(.events, rows: EventFileRows.all)
    }

    @Test func runFiles() async throws {
        try await BadInputGroup.run(.runs, rows: RunFileRows.all)
    }

    @Test func csvImports() async throws {
        try await BadInputGroup.run(.imports, rows: CSVImportRows.all)
    }
}

// MARK: - The table

/// What a row expects of the server.
private enum Expected: Sendable, CustomStringConvertible {
    /// Moved to `rejected/` beside a `.reason.json` whose reason or problems contain the text.
    case rejected(String)
    /// Accepted; its run completes.
    case completes
    /// Accepted; its run fails at once (non-retriable), with an error containing the text.
    case failsNonRetriable(String)
    /// Never touched: it stays where it was, as it was.
    case leftAlone
    /// Sent more than once with one id: exactly one run.
    case oneRun
    /// A damaged run: moved to `failed/` with an error containing the text.
    case setAside(String)
    /// The import completes with `inserted` contacts and one row error containing each text.
    case importCompletes(inserted: Int, rowErrors: [String])
    /// The import fails with an error containing the text, its run at once (non-retriable).
    case importFails(String)

    var description: String {
        switch self {
        case .rejected(let text): "rejected, reason contains “\(text)”"
        case .completes: "accepted; run completes"
        case .failsNonRetriable(let text): "accepted; run fails non-retriable: “\(text)”"
        case .leftAlone: "ignored, left alone"
        case .oneRun: "deduplicated: exactly one run"
        case .setAside(let text): "moved to failed/ with “\(text)”; no crash, no busy loop"
        case .importCompletes(let inserted, let errors):
            "import completes: \(inserted) inserted"
                + (errors.isEmpty
                    ? ", no row errors" : ", row errors: " + errors.map { "“\($0)”" }.joined(separator: ", "))
        case .importFails(let text): "import fails at once (non-retriable): “\(text)”"
        }
    }
}

/// One kind of bad input: how it is produced and what must become of it.
private struct Row: Sendable {
    typealias Produce = @Sendable (Fixture, Row) async throws -> Void
    /// Checks beyond the expectation, on the final snapshot: whether they hold, and what was seen.
    typealias Verify = @Sendable (Fixture, Row, Snapshot) throws -> (ok: Bool, note: String)
    /// Runs once the row has its outcome; returns what it observed, added to the row's outcome.
    typealias FollowUp = @Sendable (Fixture, Row) async throws -> String

    var kind: String
    var input: String
    var expected: Expected
    /// The name in `incoming/`, when not `<tag>.json`.
    var name: String?
    var produce: Produce
    var verify: Verify? = nil
    var followUp: FollowUp? = nil
    /// Unique per row (`e07`): the file's default name and the `case` in its event's data.
    var tag = ""

    init(_ kind: String, _ input: String, _ expected: Expected, name: String? = nil, produce: @escaping Produce) {
        self.kind = kind
        self.input = input
        self.expected = expected
        self.name = name
        self.produce = produce
    }

    var file: String { name ?? tag + ".json" }

    /// This row with a further check on the final snapshot.
    func verifying(_ verify: @escaping Verify) -> Row {
        var row = self
        row.verify = verify
        return row
    }

    /// This row with a step run once it has its outcome.
    func followedBy(_ followUp: @escaping FollowUp) -> Row {
        var row = self
        row.followUp = followUp
        return row
    }
}

/// What the test saw become of a row.
private struct Observation: Sendable {
    var text: String
    var matches: Bool
}

// MARK: - The spool under test

/// One group's spool, server and demo ids, and what rows learned while producing their input.
private final class Fixture: Sendable {
    let workspace: Workspace
    let binary: SpoolBinary
    let ids: DemoIDs
    /// Per row tag: the id the row's outcome is found by (an event id, a run id, an import id).
    let subjects = LockedValue<[String: String]>([:])
    let serverPID = LockedValue<Int32>(0)
    let passwd: Data?

    private init(workspace: Workspace, binary: SpoolBinary, ids: DemoIDs) throws {
        self.workspace = workspace
        self.binary = binary
        self.ids = ids
        passwd = try? Data(contentsOf: URL(fileURLWithPath: "/etc/passwd"))
        try layout.create()
        try Disk.makeDirectory(outside)
    }

    /// A new spool with the demo workspace and user.
    static func make() async throws -> Fixture {
        let workspace = try Workspace()
        let binary = try SpoolBinary(spool: workspace.spool)
        let ids = try await blocking { try ServeTests.seed(binary) }
        return try Fixture(workspace: workspace, binary: binary, ids: ids)
    }

    var layout: SpoolLayout { workspace.layout }
    /// A folder beside the spool, for files that must stay untouched.
    var outside: String { workspace.directory + "/outside" }

    func subject(_ row: Row) -> String? { subjects.withLock { $0[row.tag] } }
    func setSubject(_ row: Row, _ value: String) { subjects.withLock { $0[row.tag] = value } }

    /// A valid welcome event for the demo user, marked with `tag` so its run can be found.
    func welcome(_ tag: String, extra: String = "") -> String {
        #"{"name":"user/signed.up","data":{"userId":"\#(ids.userId)","workspaceId":"\#(ids.workspaceId)","case":"\#(tag)"\#(extra)}}"#
    }

    /// Drops a file the right way: written in `tmp/`, then renamed into `incoming/`.
    func drop(_ data: Data, as name: String) throws {
        let staged = layout.tmp + "/" + UUID().uuidString
        try data.write(to: URL(fileURLWithPath: staged))
        try Disk.rename(staged, layout.incoming + "/" + name)
    }

    func drop(_ text: String, as name: String) throws { try drop(Data(text.utf8), as: name) }

    /// Starts `spool` with `arguments` on this spool without waiting for it.
    func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary.path)
        process.arguments = arguments + ["--spool", workspace.spool]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

/// Runs blocking work (a child process, a big file) on a thread outside Swift's cooperative pool,
/// whose two threads here are shared with the in-process servers of other suites.
private func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// A value handed to `blocking` work that alone uses it from then on.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Writes `data` straight into `path` with open/write/close, never through a rename.
private func writeInPlace(_ path: String, _ data: Data, append: Bool = false) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o600)
    guard fd >= 0 else { throw SpoolError.system("open", path: path) }
    defer { close(fd) }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == data.count else { throw SpoolError.system("write", path: path) }
}

/// A C path made of `directory` and a name given as raw bytes (which need not be UTF-8).
private func rawPath(_ directory: String, _ name: [UInt8]) -> [CChar] {
    (Array(directory.utf8) + [UInt8(ascii: "/")] + name + [0]).map { CChar(bitPattern: $0) }
}

/// Everything the test reads back from the spool at one moment.
private struct Snapshot {
    struct Rejected {
        var path: String
        var reason: Rejection.Reason
        var text: String { ([reason.reason] + (reason.problems ?? [])).joined(separator: "; ") }
    }

    struct Run {
        var id: String
        var folder: String
        var directory: String
        var tag: String?
        var eventID: String?
        var record: RunRecord?

        var summary: String {
            switch folder {
            case "done": return "run completed"
            case "failed":
                let error = record?.lastError
                return "run failed\(error?.nonRetriable == true ? " (non-retriable)" : ""): \(error?.message ?? "?")"
            default: return "run \(record?.status.rawValue ?? "?") in \(folder)/"
            }
        }
    }

    struct Import: Decodable {
        var id: String
        var status: String
        var inserted: Int?
        var skipped: Int?
        var totalRows: Int?
        var errorLog: [ImportExportTests.ImportRow.RowError]
        var error: String?
    }

    /// Rejections by their `file` field (`incoming/<name>`).
    var rejected: [String: Rejected] = [:]
    var runs: [Run] = []
    var imports: [String: Import] = [:]

    func runs(tagged tag: String) -> [Run] { runs.filter { $0.tag == tag } }
    func finishedRun(tagged tag: String) -> Run? {
        runs(tagged: tag).first { $0.folder == "done" || $0.folder == "failed" }
    }
    /// The rejection of `incoming/<name>`, or of `<folder>/<name>` for a name given with its folder.
    func rejection(of name: String) -> Rejected? {
        rejected[name.contains("/") ? name : "incoming/" + ClaimName.shortened(name)]
    }
}

/// Reads snapshots, caching finished runs (a run in `done/` never changes again).
private final class SnapshotReader: @unchecked Sendable {
    // @unchecked: one task reads at a time (each read is awaited before the next).
    let fixture: Fixture
    let withImports: Bool
    private var doneRuns: [String: Snapshot.Run] = [:]

    init(_ fixture: Fixture, withImports: Bool) {
        self.fixture = fixture
        self.withImports = withImports
    }

    func read() throws -> Snapshot {
        var snapshot = Snapshot()
        let layout = fixture.layout
        for name in try Disk.listVisible(layout.rejected) where name.hasSuffix(".reason.json") {
            let path = layout.rejected + "/" + name
            guard let reason = try? JSONDecoder().decode(Rejection.Reason.self, from: Disk.read(path)) else { continue }
            snapshot.rejected[reason.file] = Snapshot.Rejected(
                path: String(path.dropLast(".reason.json".count)), reason: reason)
        }
        for location in try RunLocator(layout: layout).all() {
            if let cached = doneRuns[location.directory] {
                snapshot.runs.append(cached)
                continue
            }
            let event = try? RunExecutor.readEvent(directory: location.directory)
            let record = try? RunRecord.read(from: location.directory + "/" + RunFiles.record)
            let run = Snapshot.Run(
                id: location.id.rawValue, folder: location.folder, directory: location.directory,
                tag: event?.data["case"]?.stringValue, eventID: record?.eventID ?? event?.id, record: record)
            if location.folder == "done" && record != nil { doneRuns[location.directory] = run }
            snapshot.runs.append(run)
        }
        if withImports {
            let output = try fixture.binary.run(["imports", "--json"])
            for record in try JSONDecoder().decode([Snapshot.Import].self, from: Data(output.stdout.utf8)) {
                snapshot.imports[record.id] = record
            }
        }
        return snapshot
    }
}

// MARK: - Running a group

/// Runs one group of rows against one `spool serve`, checks them, and writes their table.
private enum BadInputGroup {
    enum Kind: String, CaseIterable {
        case events, runs, imports

        var title: String {
            switch self {
            case .events: "Event files dropped into incoming/"
            case .runs: "Damaged run files"
            case .imports: "CSV imports"
            }
        }
    }

    static func run(_ group: Kind, rows unnumbered: [Row]) async throws {
        let started = ContinuousClock.now
        let rows = unnumbered.enumerated().map { index, row in
            var row = row
            row.tag = String(format: "%@%02d", String(group.rawValue.prefix(1)), index + 1)
            return row
        }
        #expect(Set(rows.map(\.tag)).count == rows.count)
        let fixture = try await Fixture.make()
        let server = try fixture.binary.serve(log: "serve")
        defer { if server.isRunning { server.stop(SIGKILL) } }
        fixture.serverPID.withLock { $0 = server.processIdentifier }
        let parentBefore = Set(try Disk.list(fixture.workspace.directory))

        // Every bad input, each followed by a good event.
        var goodDropped: [String: Date] = [:]
        for row in rows {
            try await row.produce(fixture, row)
            let good = "good-" + row.tag
            try fixture.drop(fixture.welcome(good), as: good + ".json")
            goodDropped[good] = Date()
        }
        let goodTags = rows.map { "good-" + $0.tag }

        let reader = SnapshotReader(fixture, withImports: group == .imports)
        var snapshot = Snapshot()
        let pending = {
            let rows = rows.filter { observe($0, fixture, snapshot) == nil }.map { "\($0.tag) \($0.kind)" }
            let good = goodTags.filter { snapshot.finishedRun(tagged: $0)?.folder != "done" }
            let rejected = (try? Disk.listVisible(fixture.layout.rejected)) ?? []
            let incoming = (try? Disk.listVisible(fixture.layout.incoming)) ?? []
            return "— pending: \(rows), good: \(good), incoming: \(incoming), rejected: \(rejected)\n"
                + fixture.workspace.log("serve").prefix(3000)
        }
        try await poll("every row has its outcome and every good event completed", seconds: 60, detail: pending) {
            snapshot = try await blocking { try reader.read() }
            return goodTags.allSatisfy { snapshot.finishedRun(tagged: $0)?.folder == "done" }
                && rows.allSatisfy { observe($0, fixture, snapshot) != nil }
        }
        // How long each good event took from its drop to its run's end: bad input must not hold it up.
        let latencies = goodTags.compactMap { tag -> TimeInterval? in
            guard let finished = snapshot.finishedRun(tagged: tag)?.record?.finishedAt.flatMap(UTCTime.parseISO8601),
                let dropped = goodDropped[tag]
            else { return nil }
            return finished.timeIntervalSince(dropped)
        }
        let slowest = latencies.max() ?? .infinity
        #expect(latencies.count == goodTags.count && slowest < 20, "every good event ran promptly: \(latencies)")
        // A follow-up changes its row's state (`spool retry`): its outcome is the one seen before.
        var followed: [String: Observation] = [:]
        for row in rows {
            guard let followUp = row.followUp, var observation = observe(row, fixture, snapshot) else { continue }
            observation.text += "; " + (try await followUp(fixture, row))
            followed[row.tag] = observation
        }
        let leftovers = {
            let incoming = (try? Disk.listVisible(fixture.layout.incoming)) ?? []
            let live = ((try? RunLocator(layout: fixture.layout).all(in: ["runs"])) ?? []).map(\.id.rawValue)
            return "— incoming: \(incoming), runs: \(live)\n\(fixture.workspace.log("serve").suffix(3000))"
        }
        try await poll("incoming/ and runs/ are drained", seconds: 30, detail: leftovers) {
            let claims = try Disk.list(fixture.layout.tmp).filter { $0.hasPrefix(ClaimName.prefix) }
            let live = try RunLocator(layout: fixture.layout).all(in: ["runs"])
            let events = try Disk.listVisible(fixture.layout.incoming).filter { $0.hasSuffix(".json") }
            return events.isEmpty && claims.isEmpty && live.isEmpty
        }
        snapshot = try await blocking { try reader.read() }

        #expect(server.isRunning, "the server is still alive after all the bad input")
        var observed: [(Row, Observation)] = []
        for row in rows {
            guard var observation = followed[row.tag] ?? observe(row, fixture, snapshot) else {
                Issue.record("\(row.tag) \(row.kind): no outcome")
                continue
            }
            if let (ok, note) = try row.verify?(fixture, row, snapshot) {
                observation.matches = observation.matches && ok
                observation.text += "; " + note
            }
            #expect(
                observation.matches, "\(row.tag) \(row.kind): expected \(row.expected), observed \(observation.text)")
            observed.append((row, observation))
        }
        for tag in goodTags {
            #expect(snapshot.finishedRun(tagged: tag)?.folder == "done", "good event \(tag) completed")
        }
        #expect(Set(try Disk.list(fixture.workspace.directory)) == parentBefore, "nothing appeared beside the spool")

        let log = fixture.workspace.log("serve")
        for loop in ["could not be executed", "intake failed", "rescan failed", "could not be finished", "Fatal error"]
        {
            #expect(!log.contains(loop), "the server log has no “\(loop)”: \(log.suffix(2000))")
        }
        let housekeeping = log.split(separator: "\n").filter { $0.contains("housekeeping failed") }
        #expect(housekeeping.isEmpty, "a stray file in runs/ does not stop housekeeping: \(housekeeping)")
        let memory = peakMemory(of: server.processIdentifier)
        let stopping = UncheckedSendable(server)
        let status = try await blocking {
            stopping.value.stop(SIGTERM)
            return stopping.value.terminationStatus
        }
        #expect(status == 0, "the server stops cleanly")

        let total = ContinuousClock.now - started
        let note =
            "\(rows.count) kinds, each followed by a good welcome event, against one `spool serve`; every good "
            + "event completed, the slowest \(String(format: "%.2f s", slowest)) after it was dropped "
            + "(median \(String(format: "%.2f s", latencies.sorted().dropFirst(latencies.count / 2).first ?? 0))); "
            + "the server's peak memory (VmHWM) was \(memory.map { "\($0 / 1024) MB" } ?? "unknown"); "
            + "the group took \(format(total))."
        try BadInputDocument.write(group, rows: observed, note: note)
    }

    /// What became of a row, or nil while it is pending.
    static func observe(_ row: Row, _ fixture: Fixture, _ snapshot: Snapshot) -> Observation? {
        let rejected = snapshot.rejection(of: row.file)
        let run = snapshot.finishedRun(tagged: row.tag)
        switch row.expected {
        case .rejected(let text):
            if let rejected {
                let kept = Disk.exists(rejected.path)
                return Observation(
                    text: "rejected: " + rejected.text + (kept ? "" : " (the file itself is missing!)"),
                    matches: kept && rejected.text.contains(text))
            }
            return run.map { Observation(text: "accepted; " + $0.summary, matches: false) }
        case .completes:
            if let rejected { return Observation(text: "rejected: " + rejected.text, matches: false) }
            return run.map { Observation(text: "accepted; " + $0.summary, matches: $0.folder == "done") }
        case .failsNonRetriable(let text):
            if let rejected { return Observation(text: "rejected: " + rejected.text, matches: false) }
            return run.map { run in
                let error = run.record?.lastError
                return Observation(
                    text: "accepted; " + run.summary,
                    matches: run.folder == "failed" && error?.nonRetriable == true
                        && error?.message.contains(text) == true)
            }
        case .leftAlone:
            let path = fixture.subject(row) ?? fixture.layout.incoming + "/" + row.file
            if let rejected { return Observation(text: "rejected: " + rejected.text, matches: false) }
            return Disk.exists(path)
                ? Observation(text: "left alone", matches: true) : Observation(text: "gone", matches: false)
        case .oneRun:
            guard let id = fixture.subject(row) else { return nil }
            let runs = snapshot.runs.filter { $0.eventID == id }
            guard runs.contains(where: { $0.folder == "done" }) else { return nil }
            return Observation(text: "\(runs.count) run(s) for the id, completed", matches: runs.count == 1)
        case .setAside(let text):
            guard let id = fixture.subject(row), let run = snapshot.runs.first(where: { $0.id == id }),
                run.folder != "runs"
            else { return nil }
            return Observation(
                text: "moved to \(run.folder)/: \(shortened(run.record?.lastError?.message ?? "(no error)"))",
                matches: run.folder == "failed" && run.record?.lastError?.message.contains(text) == true)
        case .importCompletes(let inserted, let rowErrors):
            guard let id = fixture.subject(row), let record = snapshot.imports[id], record.status != "processing" else {
                return nil
            }
            let errors = record.errorLog.map { "row \($0.row): \($0.reason)" }
            let matches =
                record.status == "completed" && record.inserted == inserted && errors.count == rowErrors.count
                && zip(errors, rowErrors).allSatisfy { $0.contains($1) }
            return Observation(
                text: "import \(record.status): \(record.inserted ?? 0) inserted, \(record.skipped ?? 0) skipped"
                    + (errors.isEmpty ? "" : "; " + errors.joined(separator: "; "))
                    + (record.error.map { "; error: \($0)" } ?? ""),
                matches: matches)
        case .importFails(let text):
            guard let id = fixture.subject(row), let record = snapshot.imports[id], record.status != "processing",
                let run = snapshot.runs.first(where: { $0.eventID == "import:" + id && $0.folder != "runs" })
            else { return nil }
            let error = run.record?.lastError
            let atOnce = run.folder == "failed" && error?.nonRetriable == true
            return Observation(
                text: "import \(record.status): \(shortened(record.error ?? "(no error)"))"
                    + (atOnce ? "; its run failed at once (non-retriable)" : "; its run: \(run.summary)"),
                matches: record.status == "failed" && record.error?.contains(text) == true && atOnce)
        }
    }

    /// A long message cut for the table (a whole 10,000-column header, say).
    static func shortened(_ message: String) -> String {
        message.count > 240 ? message.prefix(240) + "…" : message
    }

    /// The peak resident memory of a process in KiB (VmHWM), while it runs.
    static func peakMemory(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    static func format(_ duration: Duration) -> String {
        String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}

/// Waits until `condition` holds, checking every `interval`, failing after `seconds`.
private func poll(
    _ what: String, seconds: Double, every interval: Duration = .milliseconds(100),
    detail: () -> String = { "" }, _ condition: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    Issue.record("timed out after \(seconds) s waiting until \(what) \(detail())")
    throw CancellationError()
}

// MARK: - The Markdown table

/// Writes `docs/faults/bad-input.md` when `SPOOL_WRITE_FAULT_TABLE=1`, one section per group.
private enum BadInputDocument {
    private static let lock = LockedValue(())

    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/faults/bad-input.md").path
    }

    static func write(_ group: BadInputGroup.Kind, rows: [(Row, Observation)], note: String) throws {
        guard ProcessInfo.processInfo.environment["SPOOL_WRITE_FAULT_TABLE"] == "1" else { return }
        var section = "## \(group.title)\n\n\(note)\n\n| kind | input | expected | observed |\n|---|---|---|---|\n"
        for (row, observation) in rows {
            let cells = [row.kind, row.input, row.expected.description, observation.text].map(cell)
            section += "| " + cells.joined(separator: " | ") + " |\n"
        }
        try lock.withLock { _ in
            try Disk.makeDirectories(Disk.parent(of: path), mode: 0o755)
            var sections = readSections()
            sections[group.rawValue] = section
            var text = """
                # Bad input: what Spool does with it

                Written by `SPOOL_WRITE_FAULT_TABLE=1 swift test --filter BadInput` (Tests/SpoolEndToEndTests/\
                BadInputTests.swift): every row was produced against a real `spool serve` and its outcome \
                observed, interleaved with good welcome events that all completed. The server stayed up \
                throughout and stopped cleanly after.


                """
            for kind in BadInputGroup.Kind.allCases {
                guard let body = sections[kind.rawValue] else { continue }
                text += "<!-- section: \(kind.rawValue) -->\n" + body + "<!-- end: \(kind.rawValue) -->\n\n"
            }
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
    }

    private static func readSections() -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var sections: [String: String] = [:]
        for kind in BadInputGroup.Kind.allCases {
            guard let start = text.range(of: "<!-- section: \(kind.rawValue) -->\n"),
                let end = text.range(of: "<!-- end: \(kind.rawValue) -->", range: start.upperBound..<text.endIndex)
            else { continue }
            sections[kind.rawValue] = String(text[start.upperBound..<end.lowerBound])
        }
        return sections
    }

    private static func cell(_ text: String) -> String {
        var text = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "|", with: "\\|")
        if text.count > 600 { text = text.prefix(600) + "…" }
        return text
    }
}

// MARK: - Event files

/// What a producer may drop into `incoming/`.
private enum EventFileRows {
    static var all: [Row] {
        content + types + ids + fileKinds + names + writtenInPlace
    }

    /// A row whose file is written in `tmp/` and renamed into `incoming/`, as a producer should.
    static func file(
        _ kind: String, _ input: String, _ expected: Expected, name: String? = nil,
        _ body: @escaping @Sendable (Fixture, Row) throws -> Data
    ) -> Row {
        Row(kind, input, expected, name: name) { fixture, row in
            try fixture.drop(body(fixture, row), as: row.file)
        }
    }

    static func text(
        _ kind: String, _ input: String, _ expected: Expected, _ body: @escaping @Sendable (Fixture, Row) -> String
    ) -> Row {
        file(kind, input, expected) { fixture, row in Data(body(fixture, row).utf8) }
    }

    /// Checks that no run was started for any of `tags`.
    static func noRun(_ suffixes: [String] = [""]) -> Row.Verify {
        { _, row, snapshot in
            let runs = suffixes.flatMap { snapshot.runs(tagged: row.tag + $0) }
            return (runs.isEmpty, runs.isEmpty ? "no run started" : "\(runs.count) run(s) started")
        }
    }

    static let content: [Row] = [
        text("malformed JSON", #"`{"name" "user/signed.up"}` (no colon)"#, .rejected("not valid JSON")) { _, _ in
            #"{"name" "user/signed.up"}"#
        },
        text("a trailing comma", #"a welcome event ending `…"case":"e02",}}`"#, .completes) { fixture, row in
            fixture.welcome(row.tag).dropLast(2) + ",}}"
        },
        text("truncated JSON", "a welcome event cut after 40 bytes", .rejected("Unexpected end of file")) {
            fixture, row in String(fixture.welcome(row.tag).prefix(40))
        },
        text("empty file", "0 bytes", .rejected("the file is empty")) { _, _ in "" },
        text("5 MB JSON", "a welcome event padded to 5 MiB", .rejected("over the limit of 4194304")) {
            fixture, row in fixture.welcome(row.tag, extra: #","pad":"\#(String(repeating: "x", count: 5 << 20))""#)
        },
        file("binary bytes", "a PNG header and binary bytes", .rejected("NUL byte")) { _, _ in
            Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52])
                + Data((0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        },
        file("non-UTF-8 text", "a welcome event in Latin-1 (`Montréal`)", .rejected("not UTF-8 text: byte 0xE9")) {
            fixture, row in fixture.welcome(row.tag, extra: #","city":"Montréal""#).data(using: .isoLatin1)!
        },
        file("UTF-16 text", "a welcome event in UTF-16 with a byte order mark", .rejected("UTF-16 text, not UTF-8")) {
            fixture, row in Data([0xFF, 0xFE]) + fixture.welcome(row.tag).data(using: .utf16LittleEndian)!
        },
        text("JSON string at top level", #"`"user/signed.up"`"#, .rejected("an event object or an array")) { _, _ in
            #""user/signed.up""#
        },
        text("JSON number at top level", "`42`", .rejected("an event object or an array")) { _, _ in "42" },
        text("JSON null at top level", "`null`", .rejected("an event object or an array")) { _, _ in "null" },
        text("empty array", "`[]`", .rejected("the array holds no events")) { _, _ in "[]" },
        file(
            "an array with one bad event among good ones", "`[good, {\"name\":\"\"}, good]`",
            .rejected("[1].name is empty")
        ) { fixture, row in
            Data("[\(fixture.welcome(row.tag + "-a")),{\"name\":\"\"},\(fixture.welcome(row.tag + "-b"))]".utf8)
        }
        .verifying(noRun(["-a", "-b"])),
        text("JSON Lines", "two welcome events, one per line", .rejected("not valid JSON")) { fixture, row in
            fixture.welcome(row.tag) + "\n" + fixture.welcome(row.tag) + "\n"
        },
        text("nesting 100,000 deep", "`[[[[…]]]]`", .rejected("Too many nested arrays")) { _, _ in
            String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        },
        text("a number out of range", "`\"n\": 1e400` in data", .rejected("not representable")) { fixture, row in
            fixture.welcome(row.tag, extra: #","n":1e400"#)
        },
        file("UTF-8 with a byte order mark", "a welcome event after EF BB BF", .completes) { fixture, row in
            Data([0xEF, 0xBB, 0xBF]) + Data(fixture.welcome(row.tag).utf8)
        },
    ]

    static let types: [Row] = [
        text("wrong type: name", #"`"name": 42`"#, .rejected("name is not a string")) { _, _ in #"{"name":42}"# },
        text("wrong type: data", #"`"data": [1]`"#, .rejected("data is not an object")) { _, _ in
            #"{"name":"user/signed.up","data":[1]}"#
        },
        text("wrong type: id", #"`"id": 7`"#, .rejected("id is not a string")) { fixture, row in
            fixture.welcome(row.tag).dropLast() + #","id":7}"#
        },
        text("wrong type: ts", #"`"ts": "x"`"#, .rejected("ts is not milliseconds")) { fixture, row in
            fixture.welcome(row.tag).dropLast() + #","ts":"x"}"#
        },
        text("wrong type: v", #"`"v": 3`"#, .rejected("v is not a string")) { fixture, row in
            fixture.welcome(row.tag).dropLast() + #","v":3}"#
        },
        text("missing name", #"`{"data":{…}}`"#, .rejected("name is missing")) { _, _ in #"{"data":{"userId":"u"}}"# },
        text("empty name", #"`"name": ""`"#, .rejected("name is empty")) { _, _ in #"{"name":""}"# },
        text("a 10,000-character name", "`\"name\": \"aaaa…\"`", .rejected("name is 10000 characters, over 256")) {
            _, _ in #"{"name":"\#(String(repeating: "a", count: 10_000))"}"#
        },
        text(
            "control characters in the name", #"`"name": "user/signed.up\n"`"#,
            .rejected("name has a control character (U+000A)")
        ) { _, _ in #"{"name":"user/signed.up\n"}"# },
        text("unknown event name", #"`"name": "nobody/listens"`"#, .rejected(#"no function handles "nobody/listens""#))
        {
            _, _ in #"{"name":"nobody/listens","data":{}}"#
        },
        text(
            "data missing userId", "a welcome event without `userId`", .failsNonRetriable("missing field userId")
        ) { fixture, row in
            #"{"name":"user/signed.up","data":{"workspaceId":"\#(fixture.ids.workspaceId)","case":"\#(row.tag)"}}"#
        },
        text(
            "userId of the wrong type", #"`"userId": 42`"#, .failsNonRetriable("field userId is not String")
        ) { _, row in #"{"name":"user/signed.up","data":{"userId":42,"case":"\#(row.tag)"}}"# },
    ]

    /// A welcome event with `id`: it must run, and its dedupe marker must be inside `ids/`.
    static func idRow(_ kind: String, _ id: String, shown: String) -> Row {
        file(
            kind, "a welcome event with `\"id\": \(shown)`", .completes
        ) { fixture, row in
            let encoded = String(decoding: try JSONEncoder().encode(id), as: UTF8.self)
            return Data((fixture.welcome(row.tag).dropLast() + #","id":\#(encoded)}"#).utf8)
        }
        .verifying { fixture, _, _ in
            let marker = "ids/" + SafeName.encode(id)
            let ok = Disk.exists(fixture.workspace.spool + "/" + marker)
            return (ok, ok ? "marker \(marker) inside the spool" : "no marker \(marker)")
        }
    }

    static let ids: [Row] = [
        idRow("id with slashes", "a/b/c", shown: #""a/b/c""#),
        idRow("id with ..", "../../escaped", shown: #""../../escaped""#),
        idRow("id with a NUL", "nul\u{0}id", shown: #""nul\u0000id""#),
        idRow("id with leading dots", "..hidden", shown: #""..hidden""#),
        text("a 10,000-character id", "`\"id\": \"xxxx…\"`", .rejected("id is empty or over 512 bytes")) {
            fixture, row in fixture.welcome(row.tag).dropLast() + #","id":"\#(String(repeating: "x", count: 10_000))"}"#
        },
        Row("duplicate ids sent at once", "two `spool send --id dup-…` processes launched concurrently", .oneRun) {
            fixture, row in
            let id = "dup-" + row.tag
            fixture.setSubject(row, id)
            let data = #"{"userId":"\#(fixture.ids.userId)","case":"\#(row.tag)"}"#
            let statuses = try await blocking {
                let senders = try (0..<2).map { _ in
                    try fixture.launch(["send", "user/signed.up", "--data", data, "--id", id])
                }
                return senders.map { sender in
                    sender.waitUntilExit()
                    return sender.terminationStatus
                }
            }
            #expect(statuses == [0, 0], "both sends succeed")
        },
    ]

    static let fileKinds: [Row] = [
        Row(
            "symlink to /etc/passwd", "a symbolic link renamed into incoming/", .rejected("a symbolic link")
        ) { fixture, row in
            let staged = fixture.layout.tmp + "/" + UUID().uuidString
            #expect(symlink("/etc/passwd", staged) == 0)
            try Disk.rename(staged, fixture.layout.incoming + "/" + row.file)
        }
        .verifying { fixture, _, _ in
            let same =
                fixture.passwd != nil
                && (try? Data(contentsOf: URL(fileURLWithPath: "/etc/passwd"))) == fixture.passwd
            return (same, same ? "/etc/passwd unchanged" : "/etc/passwd changed")
        },
        Row(
            "symlink to a file outside the spool", "a link to a valid event beside the spool",
            .rejected("a symbolic link")
        ) { fixture, row in
            let target = fixture.outside + "/" + row.tag + ".json"
            try Data(fixture.welcome(row.tag).utf8).write(to: URL(fileURLWithPath: target))
            let staged = fixture.layout.tmp + "/" + UUID().uuidString
            #expect(symlink(target, staged) == 0)
            try Disk.rename(staged, fixture.layout.incoming + "/" + row.file)
        }
        .verifying { fixture, row, snapshot in
            let target = fixture.outside + "/" + row.tag + ".json"
            let same = (try? Data(contentsOf: URL(fileURLWithPath: target))) == Data(fixture.welcome(row.tag).utf8)
            let runs = snapshot.runs(tagged: row.tag).count
            return (same && runs == 0, "the target is unchanged: \(same), runs from it: \(runs)")
        },
        Row(
            "hard link to a file outside the spool", "`link(outside/x.json, incoming/x.json)`, a valid event",
            .completes
        ) { fixture, row in
            let target = fixture.outside + "/" + row.tag + ".json"
            try Data(fixture.welcome(row.tag).utf8).write(to: URL(fileURLWithPath: target))
            #expect(link(target, fixture.layout.incoming + "/" + row.file) == 0)
        }
        .verifying { fixture, row, _ in
            let target = fixture.outside + "/" + row.tag + ".json"
            var info = stat()
            let same = (try? Data(contentsOf: URL(fileURLWithPath: target))) == Data(fixture.welcome(row.tag).utf8)
            let links = stat(target, &info) == 0 ? Int(info.st_nlink) : 0
            return (
                same && links == 1,
                "accepted like any regular file (`spool backup` hard-links incoming/ too); the outside name and "
                    + "content are untouched (\(links) link left)"
            )
        },
        Row("FIFO", "`mkfifo incoming/x.json`", .rejected("a FIFO (named pipe), not a regular file")) { fixture, row in
            #expect(mkfifo(fixture.layout.incoming + "/" + row.file, 0o600) == 0)
        },
        Row("UNIX socket", "a bound socket renamed into incoming/", .rejected("a socket that cannot be opened")) {
            fixture, row in
            let staged = fixture.layout.tmp + "/" + row.tag + ".sock"
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(staged.utf8) + [0]) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            close(fd)
            #expect(bound == 0)
            try Disk.rename(staged, fixture.layout.incoming + "/" + row.file)
        },
        Row(
            "directory", "a directory (holding a valid event) renamed into incoming/", .rejected("a directory")
        ) { fixture, row in
            let staged = fixture.layout.tmp + "/" + UUID().uuidString
            try Disk.makeDirectory(staged)
            try Data(fixture.welcome(row.tag).utf8).write(to: URL(fileURLWithPath: staged + "/inside.json"))
            try Disk.rename(staged, fixture.layout.incoming + "/" + row.file)
        }
        .verifying { _, row, snapshot in
            let kept = snapshot.rejection(of: row.file).map { Disk.exists($0.path + "/inside.json") } ?? false
            return (kept, kept ? "moved whole, its content kept" : "its content is gone")
        },
        Row(
            "dot-file", "a valid event named `.x.json`", .leftAlone, name: ".dot-file.json"
        ) { fixture, row in try fixture.drop(fixture.welcome(row.tag), as: row.file) }
        .verifying(unchangedWithoutARun),
        Row(
            "a name not ending in .json", "a valid event named `x.json.tmp`, as a producer writing in place names it",
            .leftAlone, name: "in-place.json.tmp"
        ) { fixture, row in try fixture.drop(fixture.welcome(row.tag), as: row.file) }
        .verifying(unchangedWithoutARun),
    ]

    /// The row's file is still in `incoming/` as it was dropped, and no run came from it.
    static let unchangedWithoutARun: Row.Verify = { fixture, row, snapshot in
        let runs = snapshot.runs(tagged: row.tag).count
        let same =
            (try? Data(contentsOf: URL(fileURLWithPath: fixture.layout.incoming + "/" + row.file)))
            == Data(fixture.welcome(row.tag).utf8)
        return (same && runs == 0, "content unchanged: \(same), runs: \(runs)")
    }

    static let latin1Name: [UInt8] = Array("caf".utf8) + [0xE9] + Array("-latin1.json".utf8)

    static let names: [Row] = [
        file(
            "a name with spaces and unicode", "`an event — ünïcødé ✓.json`", .completes,
            name: "an event — ünïcødé ✓.json"
        ) {
            fixture, row in Data(fixture.welcome(row.tag).utf8)
        },
        file("a name with a newline", "`line\\nbreak.json`", .completes, name: "line\nbreak.json") { fixture, row in
            Data(fixture.welcome(row.tag).utf8)
        },
        file(
            "a 255-byte name", "`aaaa….json`, a valid event", .completes,
            name: String(repeating: "a", count: 250) + ".json"
        ) {
            fixture, row in Data(fixture.welcome(row.tag).utf8)
        },
        file(
            "a 255-byte name, bad content", "`bbbb….json` holding `{`", .rejected("not valid JSON"),
            name: String(repeating: "b", count: 250) + ".json"
        ) { _, _ in Data("{".utf8) },
        Row(
            "a name that is not UTF-8", "`caf\\xE9-latin1.json` (Latin-1 bytes), a valid event", .completes,
            name: String(decoding: latin1Name, as: UTF8.self)
        ) { fixture, row in
            let staged = fixture.layout.tmp + "/" + UUID().uuidString
            try Data(fixture.welcome(row.tag).utf8).write(to: URL(fileURLWithPath: staged))
            #expect(rename(staged, rawPath(fixture.layout.incoming, latin1Name)) == 0)
        },
    ]

    static let writtenInPlace: [Row] = [
        Row(
            "written in place over two writes",
            "half an event written into incoming/ and closed; the rest appended after the next scan", .completes
        ) { fixture, row in
            let body = Data(fixture.welcome(row.tag).utf8)
            // Only a scan within the settle time proves anything; on a machine too busy to scan that soon,
            // the stale half file is rightly rejected, and the attempt is made again with a new file.
            for attempt in 1...3 {
                let path = fixture.layout.incoming + "/\(row.tag)-\(attempt).json"
                try writeInPlace(path, body.prefix(body.count / 2))
                let written = Date()
                // A later name, also written in place: once a scan has taken it, that scan saw the half file too.
                let probe = fixture.layout.incoming + "/\(row.tag)-\(attempt)~probe.json"
                try writeInPlace(probe, Data(fixture.welcome(row.tag + "-probe").utf8))
                try await poll("a scan takes the probe", seconds: 30, every: .milliseconds(10)) { !Disk.exists(probe) }
                let scannedWithin = Date().timeIntervalSince(written)
                guard scannedWithin < Intake.settleTime - 0.2 else { continue }
                guard Disk.exists(path) else {
                    fixture.setSubject(row, String(format: "taken half-written by a scan %.1f s after", scannedWithin))
                    return
                }
                try writeInPlace(path, body.dropFirst(body.count / 2), append: true)
                fixture.setSubject(
                    row,
                    String(
                        format:
                            "the half-written file was left alone by a scan %.1f s after its write, taken once whole",
                        scannedWithin))
                return
            }
            fixture.setSubject(row, "never scanned within the settle time in 3 attempts")
        }
        .verifying { fixture, row, _ in
            let subject = fixture.subject(row) ?? "?"
            return (subject.hasPrefix("the half-written file was left alone"), subject)
        },
        Row(
            "written in place, never finished", #"`{"name":"user/signed.up","data":{` written into incoming/"#,
            .rejected("Unexpected end of file")
        ) { fixture, row in
            try writeInPlace(fixture.layout.incoming + "/" + row.file, Data(#"{"name":"user/signed.up","data":{"#.utf8))
            fixture.setSubject(row, String(Date().timeIntervalSince1970))
        }
        .verifying { fixture, row, snapshot in
            guard let written = fixture.subject(row).flatMap(Double.init),
                let at = snapshot.rejection(of: row.file).flatMap({ UTCTime.parseISO8601($0.reason.rejectedAt) })
            else { return (false, "no write or rejection time") }
            let waited = at.timeIntervalSince1970 - written
            return (
                waited >= Intake.settleTime - 0.1, String(format: "rejected %.1f s after its last write", waited)
            )
        },
    ]
}

// MARK: - Run files

/// Damaged files inside run directories, as a bad disk, a bad restore or a careless operator leaves them.
private enum RunFileRows {
    enum File {
        case valid
        case missing
        case replaced(String)
    }

    /// Publishes a send-welcome run for the row into `runs/`, built as the engine builds one, with
    /// `event.json` and `run.json` as given and `steps` added; the row's subject is the run id.
    static func publishRun(
        _ fixture: Fixture, _ row: Row, event eventFile: File = .valid, record recordFile: File = .valid,
        steps: [String: String] = [:], log extraLog: String = ""
    ) throws {
        let now = Date()
        let id = RunID(date: now, function: "send-welcome")
        let event = Event(
            name: "user/signed.up",
            data: [
                "userId": .string(fixture.ids.userId), "workspaceId": .string(fixture.ids.workspaceId),
                "case": .string(row.tag),
            ],
            id: "evt-" + row.tag, ts: Int64(now.timeIntervalSince1970 * 1000))
        let staging = fixture.layout.tmp + "/.stage-" + id.rawValue
        try Disk.makeDirectory(staging)
        try Disk.makeDirectory(staging + "/" + RunFiles.steps)
        func write(_ file: File, _ valid: Data, to name: String) throws {
            switch file {
            case .valid: try valid.write(to: URL(fileURLWithPath: staging + "/" + name))
            case .missing: break
            case .replaced(let text): try Data(text.utf8).write(to: URL(fileURLWithPath: staging + "/" + name))
            }
        }
        try write(eventFile, try SpoolJSON.encoder.encode(event), to: RunFiles.event)
        let record = RunRecord(id: id, function: "send-welcome", event: event, eventID: event.id!, now: now)
        try write(recordFile, try record.encoded(), to: RunFiles.record)
        var log = try SpoolJSON.lineEncoder.encode(RunLogEntry(at: now, kind: .created))
        log.append(contentsOf: "\n\(extraLog)".utf8)
        try log.write(to: URL(fileURLWithPath: staging + "/" + RunFiles.log))
        for (step, text) in steps {
            try Data(text.utf8).write(to: URL(fileURLWithPath: staging + "/steps/" + step))
        }
        fixture.setSubject(row, id.rawValue)
        try Disk.rename(staging, fixture.layout.liveRun(id))
    }

    /// The run's directory wherever it is now.
    static func directory(_ fixture: Fixture, _ row: Row) -> String? {
        guard let raw = fixture.subject(row), let id = try? RunID(validating: raw) else { return nil }
        return (try? RunLocator(layout: fixture.layout).find(id))?.directory
    }

    /// Checks that a damaged file was kept beside its replacement with its content, and that the
    /// server said so once or twice, not once every few seconds.
    static func keptAside(_ file: String, _ torn: String?) -> Row.Verify {
        { fixture, row, _ in
            var notes: [String] = []
            var ok = true
            if let torn, let directory = directory(fixture, row) {
                let aside = try Disk.list(directory + "/" + Disk.parent(of: file)).filter {
                    $0.hasPrefix(Disk.name(of: file) + ".unreadable-")
                }
                let kept =
                    aside.count == 1
                    && (try? Disk.read(directory + "/" + Disk.parent(of: file) + "/" + aside[0])) == Data(torn.utf8)
                ok = ok && kept
                notes.append(kept ? "the damaged file is kept, as it was" : "the damaged file is lost")
            }
            if file.hasPrefix("steps/"), let directory = directory(fixture, row) {
                let entries = RunLog.read(directory + "/" + RunFiles.log)
                let recovered = entries.filter { $0.kind == .recovered }.compactMap(\.error)
                let completions = entries.filter { $0.kind == .stepCompleted && $0.step == "fetch-user" }.count
                ok = ok && recovered.count == 1 && completions == 1
                notes.append(
                    "log.jsonl: “\(recovered.first ?? "no recovered entry")”, the step ran \(completions) time(s)")
            } else {
                let id = fixture.subject(row) ?? "?"
                let reports = fixture.workspace.log("serve").split(separator: "\n").filter {
                    $0.contains(id) && ($0.contains("cannot be executed") || $0.contains("waiting for"))
                }
                ok = ok && (1...3).contains(reports.count)
                notes.append("the server logged it \(reports.count) time(s), then left it alone")
            }
            return (ok, notes.joined(separator: "; "))
        }
    }

    static let tornStep = #"{"data":{"user":{"createdAt":"2026-"#
    static let tornRecord = #"{"attempt":0,"createdAt":"2026-11-"#
    static let tornEvent = #"{"name":"user/signed.up","da"#

    static var all: [Row] {
        [
            Row(
                "a torn step file", "`steps/fetch-user.json` cut mid-way", .completes
            ) { fixture, row in try publishRun(fixture, row, steps: ["fetch-user.json": tornStep]) }
            .verifying(keptAside("steps/fetch-user.json", tornStep)),
            Row(
                "a foreign step file", #"`steps/fetch-user.json` holding `{"result":1}`"#, .completes
            ) { fixture, row in try publishRun(fixture, row, steps: ["fetch-user.json": #"{"result":1}"#]) }
            .verifying(keptAside("steps/fetch-user.json", #"{"result":1}"#)),
            Row(
                "a torn run.json in a live run", "`run.json` cut mid-way", .setAside("run.json does not parse")
            ) { fixture, row in try publishRun(fixture, row, record: .replaced(tornRecord)) }
            .verifying(keptAside("run.json", tornRecord))
            .followedBy { fixture, row in
                let id = fixture.subject(row) ?? "?"
                let retried = try await blocking { try fixture.binary.run(["retry", id]) }
                #expect(retried.status == 0, "\(retried.stderr)")
                try await poll("the retried run completes", seconds: 20) {
                    directory(fixture, row)?.contains("/done/") == true
                }
                return "`spool retry` put it back and it completed"
            },
            Row(
                "a foreign run.json", "`run.json` holding `{}`", .setAside("run.json does not parse (missing field")
            ) { fixture, row in try publishRun(fixture, row, record: .replaced("{}")) }
            .verifying(keptAside("run.json", "{}")),
            Row(
                "a run directory with no event.json", "`event.json` deleted", .setAside("event.json is missing")
            ) { fixture, row in try publishRun(fixture, row, event: .missing) }
            .verifying(keptAside("event.json", nil)),
            Row(
                "a torn event.json", "`event.json` cut mid-way", .setAside("event.json does not parse")
            ) { fixture, row in try publishRun(fixture, row, event: .replaced(tornEvent)) }
            .verifying(keptAside("event.json", tornEvent)),
            Row("a torn last line in log.jsonl", "`log.jsonl` ending in half a line", .completes) { fixture, row in
                try publishRun(fixture, row, log: #"{"at":"2026-11-29T08:00:00.000Z","ki"#)
            },
            Row(
                "a stray file in runs/", "`runs/notes-not-a-run`, a plain file", .rejected("not a run"),
                name: "runs/notes-not-a-run"
            ) { fixture, row in try fixture.drop("notes", as: "../" + row.file) }
            .verifying { fixture, _, _ in
                let lines = fixture.workspace.log("serve").split(separator: "\n").filter {
                    $0.contains("notes-not-a-run") && !$0.contains("housekeeping failed")
                }
                return (lines.count == 1, "the server logged it once, then left it alone")
            },
            Row(
                "a stray folder in runs/", "`runs/junk-folder/` holding only `notes.txt`", .rejected("not a run"),
                name: "runs/junk-folder"
            ) { fixture, row in
                let staged = fixture.layout.tmp + "/" + UUID().uuidString
                try FileManager.default.createDirectory(atPath: staged, withIntermediateDirectories: false)
                try Data("notes".utf8).write(to: URL(fileURLWithPath: staged + "/notes.txt"))
                try Disk.rename(staged, fixture.layout.root + "/" + row.file)
            }
            .verifying { _, row, snapshot in
                let kept = snapshot.rejection(of: row.file).map { Disk.exists($0.path + "/notes.txt") } ?? false
                return (kept, kept ? "moved whole, its content kept" : "its content is gone")
            },
        ]
    }
}

// MARK: - CSV imports

/// Files given to `spool import`.
private enum CSVImportRows {
    /// A row whose CSV is written by `csv` to a file beside the spool, then imported with `--no-wait`.
    static func importing(
        _ kind: String, _ input: String, _ expected: Expected, _ csv: @escaping @Sendable (String) throws -> Void
    ) -> Row {
        Row(kind, input, expected) { fixture, row in
            let path = fixture.outside + "/" + row.tag + ".csv"
            let output = try await blocking {
                try csv(path)
                return try fixture.binary.run([
                    "import", path, "--workspace", fixture.ids.workspaceId, "--user", fixture.ids.userId, "--no-wait",
                ])
            }
            let line = output.stdout.split(separator: "\n").first { $0.hasPrefix("import ") }
            #expect(output.status == 0 && line != nil, "spool import: \(output.stdout) \(output.stderr)")
            fixture.setSubject(row, String(line?.dropFirst("import ".count) ?? ""))
        }
    }

    static func write(_ data: Data, _ path: String) throws { try data.write(to: URL(fileURLWithPath: path)) }

    static let wideHeader = (1..<10_000).map { "c\($0)" }

    static let limit = 150 << 10

    static var all: [Row] {
        [
            importing(
                "Latin-1 encoded CSV", "5 rows, 2 of them with Latin-1 accents",
                .importCompletes(inserted: 3, rowErrors: ["row 2: bad encoding", "row 4: bad encoding"])
            ) { path in
                let text =
                    "email,first name,city\nann@latin.test,Ann,Montréal\nbob@latin.test,Bob,Paris\n"
                    + "cy@latin.test,Cy,Zürich\ndee@latin.test,Dee,Oslo\neve@latin.test,Eve,Rome\n"
                try write(text.data(using: .isoLatin1)!, path)
            },
            importing("UTF-16 CSV with a BOM", "FF FE, then `email,name` rows in UTF-16", .importFails("UTF-16")) {
                path in
                try write(Data([0xFF, 0xFE]) + "email,name\nann@u16.test,Ann\n".data(using: .utf16LittleEndian)!, path)
            },
            importing(
                "a header with 10,000 columns", "`c1,…,c9999,email` and 3 rows",
                .importCompletes(inserted: 3, rowErrors: [])
            ) { path in
                var text = (wideHeader + ["email"]).joined(separator: ",") + "\n"
                for n in 1...3 {
                    text += Array(repeating: "v", count: 9_999).joined(separator: ",") + ",w\(n)@wide.test\n"
                }
                try write(Data(text.utf8), path)
            },
            importing(
                "10,000 columns and no email column", "`c1,…,c10000`", .importFails("(10000 columns)")
            ) { path in
                try write(Data(((wideHeader + ["c10000"]).joined(separator: ",") + "\nx\n").utf8), path)
            }
            .verifying { fixture, row, snapshot in
                let error = fixture.subject(row).flatMap { snapshot.imports[$0]?.error } ?? ""
                return (error.count < 1_000, "the error is \(error.count) characters, the header cut short")
            },
            importing(
                "a single 100 MB field", "row 2's `notes` is 100 MB; rows 3–5 are fine",
                .importCompletes(inserted: 3, rowErrors: ["row 2: the row is longer than 1048576 bytes"])
            ) { path in
                let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path, isDirectory: false), creating: true)
                defer { try? file.close() }
                try file.write(contentsOf: Data("email,notes\r\nbig@huge.test,\"".utf8))
                let megabyte = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
                for _ in 0..<100 { try file.write(contentsOf: megabyte) }
                try file.write(contentsOf: Data("\"\r\na@huge.test,\r\nb@huge.test,\r\nc@huge.test,\r\n".utf8))
            }
            .verifying { fixture, _, _ in
                let peak = BadInputGroup.peakMemory(of: fixture.serverPID.withLock { $0 }) ?? Int.max
                return (peak < limit, "the server's VmHWM was \(peak / 1024) MB (limit \(limit / 1024) MB)")
            },
            importing("a header and nothing else", "`email,name`", .importCompletes(inserted: 0, rowErrors: [])) {
                path in
                try write(Data("email,name\n".utf8), path)
            },
            importing("an empty file", "0 bytes", .importFails("the CSV file is empty")) { path in
                try write(Data(), path)
            },
            importing(
                "no email column", "`first,last` and a row", .importFails("no email column: the header is first,last")
            ) { path in try write(Data("first,last\nAnn,Lee\n".utf8), path) },
            importing(
                "a spreadsheet saved as .csv", "the first bytes of an XLSX (zip) file",
                .importFails("the header row is malformed")
            ) {
                path in
                try write(
                    Data([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, 0x08, 0x00, 0xFF, 0xA3, 0x21, 0x00, 0x0A])
                        + Data("more,bytes\n".utf8), path)
            },
        ]
    }
}

extension FileHandle {
    fileprivate convenience init(forWritingTo url: URL, creating: Bool) throws {
        if creating { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        try self.init(forWritingTo: url)
    }
}
