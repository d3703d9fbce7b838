import ArgumentParser
import Folksbase
import Foundation
import SpoolEngine

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a CSV of contacts: store the file, create the import, send import/csv.confirmed.",
        discussion: "Waits for the import to finish (progress on a terminal) unless --no-wait.")

    @OptionGroup var options: SpoolOptions
    @OptionGroup var servicesOptions: ServicesOptions
    @Argument(help: "The CSV file, or its URL (http://, https://, s3://, file://) to read it from there.")
    var file: String
    @Option(help: "The workspace id.") var workspace: String
    @Option(help: "The user to notify.") var user: String
    @Option(
        help: ArgumentHelp(
            "Column mapping as JSON, CSV header -> field (email, firstName, lastName, company, phone); "
                + "the fields it leaves out are found by header name."))
    var mapping: String?
    @Flag(help: "Return once the event is sent.") var noWait = false

    func run() async throws {
        let isURL = ["http://", "https://", "s3://", "file://"].contains { file.lowercased().hasPrefix($0) }
        guard isURL || (Disk.exists(file) && !Disk.isDirectory(file)) else { throw ValidationError("no file \(file)") }
        guard isURL || FileManager.default.isReadableFile(atPath: file) else {
            throw ValidationError("cannot read \(file): permission denied (run as a user who may read it, or copy it)")
        }
        let columnMapping = try parseMapping()
        let layout = options.layout
        try layout.create()
        let writer = DurableWriter(layout: layout)
        sayIfFrozen(layout)
        let services = try servicesOptions.services(layout, writer: writer)
        // Checked before the file is stored, so that a mistyped id leaves no copy of it behind.
        guard try await services.store.workspace(id: workspace) != nil else {
            throw FolksbaseError(
                .notFound,
                "cannot create an import: workspace \(workspace) does not exist (`spool demo seed` prints the demo workspace's id)"
            )
        }
        guard try await services.store.user(id: user) != nil else {
            throw FolksbaseError(.notFound, "cannot create an import: user \(user) does not exist")
        }
        let name = isURL ? (URL(string: file)?.lastPathComponent ?? file) : Disk.name(of: file)
        let url: String
        if isURL {
            url = file
        } else {
            let folder = UTCTime.compact(Date()) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
            url = try await services.blobs.put(
                concatenating: [file], key: BlobKey(sanitizing: ["imports", folder, name]))
        }
        let record = try await services.store.createImport(
            workspaceID: workspace, userID: user, blobURL: url, fileName: name, columnMapping: columnMapping)
        let eventID = "import:" + record.id
        try await EventProducer(layout: layout, writer: writer).send([
            Event(
                name: ProcessCSV.event,
                data: ["importId": .string(record.id), "workspaceId": .string(workspace), "userId": .string(user)],
                id: eventID)
        ])
        print("import \(record.id)")
        if noWait { return }
        let watcher = RunWatcher(admin: SpoolAdmin(layout: layout, writer: writer))
        let runID = try await watcher.run(forEvent: eventID)
        print("run    \(runID)")
        let detail = try await watcher.waitUntilFinished(runID) { location in Self.progress(location) }
        let finished = try await services.store.importRecord(id: record.id)
        print(ImportsList.describe(finished ?? record))
        if detail.record.status != .completed { throw ExitCode.failure }
    }

    /// `chunks 37/200` once chunking is done, else what the run is doing.
    static func progress(_ location: RunLocation) -> String? {
        let steps = (try? Disk.listVisible(location.directory + "/steps")) ?? []
        guard let plan = try? Disk.read(location.directory + "/steps/download-and-chunk.json"),
            let chunks = try? JSONDecoder().decode(PlanSummary.self, from: plan)
        else {
            let chunked = ((try? Disk.listVisible(location.directory + "/chunks")) ?? []).filter {
                $0.hasSuffix(".csv")
            }
            return chunked.isEmpty ? "starting…" : "splitting into chunks: \(chunked.count) written"
        }
        let done = steps.filter { $0.hasPrefix("process-chunk-") }.count
        return "chunks \(done)/\(chunks.data.chunks.count) (\(chunks.data.totalRows) rows)"
    }

    private struct PlanSummary: Decodable {
        struct Plan: Decodable {
            struct Chunk: Decodable {}
            var chunks: [Chunk]
            var totalRows: Int
        }
        var data: Plan
    }

    private func parseMapping() throws -> [String: String]? {
        guard let mapping else { return nil }
        guard let parsed = try? JSONDecoder().decode([String: String].self, from: Data(mapping.utf8)) else {
            throw ValidationError("--mapping must be a JSON object of strings, e.g. '{\"E-mail\":\"email\"}'")
        }
        if let problem = ContactColumns.problem(inMapping: parsed) { throw ValidationError("--mapping: " + problem) }
        return parsed
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a workspace's contacts to a CSV file in the blob store.",
        discussion: "Waits for the export to finish unless --no-wait; prints the file's URL.")

    @OptionGroup var options: SpoolOptions
    @OptionGroup var servicesOptions: ServicesOptions
    @Option(help: "The workspace id.") var workspace: String
    @Option(help: "The user to notify.") var user: String
    @Flag(help: "Return once the event is sent.") var noWait = false

    func run() async throws {
        let layout = options.layout
        try layout.create()
        let writer = DurableWriter(layout: layout)
        sayIfFrozen(layout)
        let services = try servicesOptions.services(layout, writer: writer)
        let record = try await services.store.createExport(workspaceID: workspace, userID: user)
        let eventID = "export:" + record.id
        try await EventProducer(layout: layout, writer: writer).send([
            Event(
                name: ProcessExport.event,
                data: ["exportId": .string(record.id), "workspaceId": .string(workspace), "userId": .string(user)],
                id: eventID)
        ])
        print("export \(record.id)")
        if noWait { return }
        let watcher = RunWatcher(admin: SpoolAdmin(layout: layout, writer: writer))
        let runID = try await watcher.run(forEvent: eventID)
        print("run    \(runID)")
        let detail = try await watcher.waitUntilFinished(runID) { location in
            let parts = ((try? Disk.listVisible(location.directory + "/steps")) ?? []).filter {
                $0.hasPrefix("write-part-")
            }
            return "parts written: \(parts.count)"
        }
        let finished = try await services.store.exportRecord(id: record.id) ?? record
        print(ExportsList.describe(finished))
        if detail.record.status != .completed { throw ExitCode.failure }
    }
}

struct ImportsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imports", abstract: "List imports, newest first: status, counts, errors.")

    @OptionGroup var options: SpoolOptions
    @OptionGroup var servicesOptions: ServicesOptions
    @Option(help: "Only this workspace.") var workspace: String?
    @Flag(help: "Print JSON, with each import's error log.") var json = false

    func run() async throws {
        let services = try servicesOptions.services(try options.existingLayout())
        let imports = try await services.store.imports(workspaceID: workspace)
        if json { return try printJSON(imports) }
        var table = Table("IMPORT", "STATUS", "FILE", "ROWS", "ADDED", "UPDATED", "SKIPPED", "FIRST ERRORS")
        for record in imports {
            let errors = record.errorLog.prefix(3).map { "row \($0.row): \($0.reason)" }.joined(separator: "; ")
            table.add(
                record.id, record.status.rawValue, record.fileName, record.totalRows.map(String.init) ?? "-",
                record.inserted.map(String.init) ?? "-", record.updated.map(String.init) ?? "-",
                record.skipped.map(String.init) ?? "-", record.error ?? errors)
        }
        print(table.render())
    }

    static func describe(_ record: ImportRecord) -> String {
        var lines = [
            "status \(record.status.rawValue): \(record.totalRows ?? 0) rows, \(record.inserted ?? 0) added, "
                + "\(record.updated ?? 0) updated, \(record.skipped ?? 0) skipped"
        ]
        if let error = record.error { lines.append("error: \(error)") }
        for row in record.errorLog.prefix(20) { lines.append("  row \(row.row): \(row.reason)") }
        if (record.errorCount ?? 0) > 20 { lines.append("  … \(record.errorCount! - 20) more (spool imports --json)") }
        return lines.joined(separator: "\n")
    }
}

struct ExportsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exports", abstract: "List exports, newest first.")

    @OptionGroup var options: SpoolOptions
    @OptionGroup var servicesOptions: ServicesOptions
    @Option(help: "Only this workspace.") var workspace: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let services = try servicesOptions.services(try options.existingLayout())
        let exports = try await services.store.exports(workspaceID: workspace)
        if json { return try printJSON(exports) }
        var table = Table("EXPORT", "STATUS", "ROWS", "FILE", "ERROR")
        for record in exports {
            table.add(
                record.id, record.status.rawValue, record.rowCount.map(String.init) ?? "-", record.blobUrl ?? "-",
                record.error ?? "")
        }
        print(table.render())
    }

    static func describe(_ record: ExportRecord) -> String {
        var text = "status \(record.status.rawValue): \(record.rowCount ?? 0) contacts"
        if let url = record.blobUrl { text += "\nfile \(url)" }
        if let error = record.error { text += "\nerror: \(error)" }
        return text
    }
}
