import Foundation
import TestServers
import Testing

/// Power loss, against the built binary: `spool serve` is traced (strace) while welcome events
/// arrive; the trace is replayed on a simulated file system that keeps only what was synced
/// (`Tests/PowerLoss`, after ALICE and LevelDB's fault env); and at each crash point the real
/// binary recovers images of what a power loss would leave. Every image must come back with each
/// event the spool owed done exactly once, no step completed twice, one email per run and every
/// published file whole.
///
/// `SPOOL_POWERLOSS_POINTS` picks the crash points: a number N (default 20) spread over the trace
/// plus the points around the first and last sync of each kind, or `all` (around every sync);
/// `SPOOL_POWERLOSS_SENDS` and `SPOOL_POWERLOSS_DRAWS` (random images per point) size the run;
/// `SPOOL_POWERLOSS_VARIANTS` narrows the crash images (e.g. to the ones that keep the order of
/// directory changes: `pessimistic,entries-without-data`);
/// `SPOOL_WRITE_FAULT_TABLE=1` writes docs/faults/power-loss.md.
@Suite(.serialized) struct PowerLossTests {
    static let table = FaultTable(
        file: "power-loss.md", title: "Power loss",
        columns: ["crash point", "where the events are in the crash images", "owed", "outcome after recovery"])
    static let tool = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PowerLoss").path

    static var points: String { ProcessInfo.processInfo.environment["SPOOL_POWERLOSS_POINTS"] ?? "20" }
    static var draws: Int { profile("SPOOL_POWERLOSS_DRAWS", 1) }
    /// The crash images made at each point (`Tests/PowerLoss/simfs.py`); all of them by default.
    static var variants: String {
        ProcessInfo.processInfo.environment["SPOOL_POWERLOSS_VARIANTS"]
            ?? "pessimistic,entries-without-data,newest-change-only,random"
    }
    static let seed = profile("SPOOL_SOAK_SEED", Int(Date().timeIntervalSince1970) % 100_000)

    @Test func theFileSystemModelPassesItsOwnTests() async throws {
        let (status, output) = try await Self.python(["-m", "unittest", "discover", "-s", Self.tool], seconds: 60)
        #expect(status == 0, "the model's unit tests failed: \(output.suffix(3000))")
    }

    /// Events sent while serving, and events without an id waiting in incoming/ at the start.
    @Test func aPowerLossAtAnySyncLosesNoAcceptedEventAndRepeatsNoStep() async throws {
        let sends = profile("SPOOL_POWERLOSS_SENDS", 3)
        try await scenario("seeded spool", sends: sends, extra: ["--dropped", "2"])
    }

    /// A spool whose folders `spool serve` creates during the trace: the first events sent to it
    /// are as durable as any later one.
    @Test func aPowerLossOnAFreshSpoolLosesNoAcceptedEvent() async throws {
        let sends = max(2, profile("SPOOL_POWERLOSS_SENDS", 3) / 2)
        try await scenario("fresh spool", sends: sends, extra: ["--dropped", "0", "--fresh"])
    }

    private func scenario(_ name: String, sends: Int, extra: [String]) async throws {
        try Strace.require()
        // Not a `Workspace`, which removes itself: the images that fail are kept here.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("spool-powerloss-" + UUID().uuidString)
            .path
        let binary = try SpoolBinary(spool: work + "/spool")
        let reportPath = work + "/report.json"
        let arguments = [
            Self.tool + "/powerloss.py", "--bin", binary.path, "--work", work, "--report", reportPath,
            "--points", Self.points, "--sends", "\(sends)", "--seed", "\(Self.seed)", "--draws", "\(Self.draws)",
            "--variants", Self.variants, "--keep",
        ]
        let (status, output) = try await Self.python(arguments + extra, seconds: 3600)
        try #require(status == 0, "powerloss.py failed: \(output.suffix(3000))")
        let report = try JSONDecoder.snakeCase.decode(
            PowerLossReport.self, from: Data(contentsOf: URL(fileURLWithPath: reportPath)))

        Self.expectFaithfulModel(report, sends: sends)
        Self.expectCrashesMidWork(report)
        for point in report.points {
            for image in point.images where image.sameAs == nil && !image.problems.isEmpty {
                let seed = image.seed.map { ", seed \($0)" } ?? ""
                let problems = image.problems.joined(separator: "; ")
                Issue.record(
                    "\(name), \(point.label) [\(image.variant)\(seed)]: \(problems) (image in \(image.kept ?? "-"))")
            }
        }
        try Self.addRows(report, scenario: name)
        if report.failed == 0 { try? FileManager.default.removeItem(atPath: work) }
    }

    /// The replay followed the real calls: every descriptor's file was where the model had it, and
    /// after the whole trace the model's volatile view is the real spool.
    static func expectFaithfulModel(_ report: PowerLossReport, sends: Int) {
        let trace = report.trace
        #expect(trace.pathMismatches.isEmpty, "the model lost track of open files: \(trace.pathMismatches)")
        #expect(trace.modelDifferences.isEmpty, "the model is not the real spool: \(trace.modelDifferences)")
        #expect(trace.acknowledgements == sends, "every `spool send` is in the trace")
        for call in ["openat", "write", "rename", "renameat2", "mkdir"] {
            #expect(trace.calls[call, default: 0] > 0, "the trace has no \(call) in the spool: \(trace.calls)")
        }
        let syncs = ["fsync", "fdatasync", "syncfs", "sync"].map { trace.calls[$0, default: 0] }.reduce(0, +)
        #expect(syncs == trace.syncs && syncs > 0, "syncs in the trace: \(trace.calls)")
    }

    /// Some images must hold work in progress, or the points prove little.
    static func expectCrashesMidWork(_ report: PowerLossReport) {
        let checked = report.points.flatMap(\.images).filter { $0.sameAs == nil }
        #expect(checked.count == report.checked && checked.count > 10)
        #expect(checked.contains { !$0.before.live.isEmpty }, "no image has a live run")
        #expect(checked.contains { !$0.before.claimed.isEmpty }, "no image has a claimed event")
        #expect(checked.contains { $0.before.done.count < $0.owed.count }, "no image has work left to do")
    }

    /// The table: the scenario and the calls it made in the spool, then a row per crash point.
    static func addRows(_ report: PowerLossReport, scenario: String) throws {
        let workload = report.workload
        let calls = report.trace.calls.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        let dropped = workload.dropped > 0 ? ", \(workload.dropped) events without an id in incoming/ at the start" : ""
        table.add(
            "**\(scenario)**: \(workload.sends) events sent with `spool send` while serving\(dropped)",
            "\(report.trace.steps) calls changed or synced the spool: \(calls.joined(separator: ", "))",
            "\(report.points.count) crash points (`\(points)`); images: \(variants.replacingOccurrences(of: ",", with: ", "))",
            "\(report.images) images, \(report.checked) distinct, recovered in \(report.seconds) s in all: "
                + (report.failed == 0
                    ? "every event owed done exactly once, no step twice, one email per run, every file whole"
                    : "FAILED for \(report.failed) images, see below"))
        for row in rows(report.points) { table.add(row[0], row[1], row[2], row[3]) }
        try table.write()
    }

    /// One row per crash point; consecutive points with the same states, debts and verdict share
    /// a row, which lists the dot-named leftovers any of them saw.
    static func rows(_ points: [PowerLossReport.Point]) -> [[String]] {
        var groups: [(points: [PowerLossReport.Point], cells: [String])] = []
        for point in points {
            let cells = [point.census, point.owed, point.verdict]
            if groups.last?.cells == cells {
                groups[groups.count - 1].points.append(point)
            } else {
                groups.append(([point], cells))
            }
        }
        return groups.map { group in
            let leftovers = group.points.reduce(into: Set<String>()) { $0.formUnion($1.leftovers) }.sorted()
            let note =
                leftovers.isEmpty
                ? "" : "; dot-named leftovers, never taken for work: " + leftovers.joined(separator: ", ")
            return [span(group.points), group.cells[0], group.cells[1], group.cells[2] + note]
        }
    }

    /// "after sync #3: fsync runs, …", or for several points "before sync #3 … after sync #5 (4 points): …".
    static func span(_ points: [PowerLossReport.Point]) -> String {
        guard let first = points.first, let last = points.last, points.count > 1 else { return points[0].label }
        let kinds = first.kind == last.kind ? first.kind : "from \(first.kind) to \(last.kind)"
        return "\(first.moment) … \(last.moment) (\(points.count) points): \(kinds)"
    }

    /// Runs `python3 -B` with `arguments` until it exits (within `seconds`); its output goes to a
    /// file, so that a long run never blocks on a full pipe.
    static func python(_ arguments: [String], seconds: Double) async throws -> (Int32, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("powerloss-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-B"] + arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try handle.close()
        defer { if process.isRunning { process.terminate() } }
        try await waitUntil("python3 \(arguments.first ?? "")", seconds: seconds) { !process.isRunning }
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }
}

/// What `Tests/PowerLoss/powerloss.py` reports.
struct PowerLossReport: Decodable {
    struct Workload: Decodable {
        var sends: Int
        var dropped: Int
    }

    struct Trace: Decodable {
        var calls: [String: Int]
        var steps: Int
        var syncs: Int
        var acknowledgements: Int
        var pathMismatches: [String]
        var modelDifferences: [String]
    }

    /// Where each event (by its `data.n`) is in an image, before recovery.
    struct Census: Decodable {
        var incoming: [String]
        var claimed: [String]
        var staged: [String]
        var live: [String]
        var done: [String]

        var summary: String {
            let places = [
                ("in incoming/", incoming), ("claimed", claimed), ("staged", staged), ("live in runs/", live),
                ("done", done),
            ]
            let parts = places.filter { !$0.1.isEmpty }.map { "\($0.1.count) \($0.0)" }
            return parts.isEmpty ? "no event" : parts.joined(separator: ", ")
        }
    }

    struct Image: Decodable {
        var variant: String
        var sameAs: String?
        var seed: Int?
        var before: Census
        var acknowledged: [String]
        var owed: [String]
        var problems: [String]
        var problemsInShort: [String]
        var leftovers: [String]
        var done: Int
        var kept: String?

    }

    struct Point: Decodable {
        var label: String
        var moment: String
        var kind: String
        var images: [Image]

        /// The events the spool must complete: those it held at the start, those whose `spool send`
        /// returned before the crash, and any other found in the images.
        var owed: String {
            let owed = Set(images.flatMap(\.owed))
            let acknowledged = images.first?.acknowledged.count ?? 0
            let events = owed.count == 1 ? "1 event" : "\(owed.count) events"
            return "\(events), \(acknowledged) of them acknowledged (sent, or there at the start)"
        }

        /// What the images held: the pessimistic one (only what was synced), then any other state.
        var census: String {
            let synced = images.first { $0.variant == "pessimistic" }?.before.summary ?? "?"
            let others = Set(images.map(\.before.summary)).subtracting([synced]).sorted()
            return "synced only: \(synced)"
                + (others.isEmpty ? "" : "; other images: " + others.joined(separator: " · "))
        }

        /// The failures, by the variants that met them, or how many runs were done.
        var verdict: String {
            let failures = images.filter { !$0.problems.isEmpty }
            if !failures.isEmpty {
                let problems = PowerLossReport.byVariants(failures) { $0.problemsInShort.joined(separator: "; ") }
                return problems.map { "FAILED (\($0.variants)): \($0.text)" }.joined(separator: " · ")
            }
            let runs = Set(images.map(\.done)).sorted().map(String.init).joined(separator: "/")
            return "\(runs) runs done, each once, one email each, nothing pending"
        }

        var leftovers: Set<String> { Set(images.flatMap(\.leftovers)) }
    }

    /// `text(image)` for each distinct text, with the variants of the images that gave it.
    static func byVariants(_ images: [Image], _ text: (Image) -> String) -> [(variants: String, text: String)] {
        var groups: [(variants: [String], text: String)] = []
        for image in images {
            let value = text(image)
            if let index = groups.firstIndex(where: { $0.text == value }) {
                groups[index].variants.append(image.variant)
            } else {
                groups.append(([image.variant], value))
            }
        }
        return groups.map { ($0.variants.joined(separator: ", "), $0.text) }
    }

    var workload: Workload
    var trace: Trace
    var points: [Point]
    var images: Int
    var checked: Int
    var failed: Int
    var seconds: Double
}

extension JSONDecoder {
    static var snakeCase: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
