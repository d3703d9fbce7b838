import Foundation

/// A Markdown table of faults and outcomes that a fault suite writes to `docs/faults/` when
/// `SPOOL_WRITE_FAULT_TABLE=1` (as `make soak` sets), so the suite documents what it proved.
final class FaultTable: @unchecked Sendable {
    // @unchecked: rows are only appended under `lock`.
    private let lock = NSLock()
    private var rows: [[String]] = []
    let file: String
    let title: String
    let columns: [String]

    init(file: String, title: String, columns: [String] = ["fault", "injected", "times", "outcome"]) {
        self.file = file
        self.title = title
        self.columns = columns
    }

    func add(_ cells: String...) { lock.withLock { rows.append(cells) } }

    /// Writes the table if asked to; the path is relative to the package root.
    func write() throws {
        guard ProcessInfo.processInfo.environment["SPOOL_WRITE_FAULT_TABLE"] == "1" else { return }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = root.appendingPathComponent("docs/faults")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let escape = { (cell: String) in
            cell.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
        }
        var text =
            "# \(title)\n\nWritten by the test suite (`make soak`) on \(ISO8601DateFormatter().string(from: Date())).\n\n"
        text +=
            "| " + columns.joined(separator: " | ") + " |\n|" + columns.map { _ in "---" }.joined(separator: "|")
            + "|\n"
        for row in lock.withLock({ rows }) { text += "| " + row.map(escape).joined(separator: " | ") + " |\n" }
        try Data(text.utf8).write(to: directory.appendingPathComponent(file))
    }
}

/// A number from the environment (the soak profile), else the short default.
func profile(_ name: String, _ fallback: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? fallback
}
