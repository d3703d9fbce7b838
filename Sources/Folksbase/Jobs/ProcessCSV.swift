import SpoolEngine

/// `process-csv` on `import/csv.confirmed` {importId, workspaceId, userId}: fetch the import, stream
/// the file into 500-row chunks, import each chunk (several read at once, applied in file order,
/// each a step), finalize, notify.
public enum ProcessCSV {
    public static let id = "process-csv"
    public static let event = "import/csv.confirmed"
    /// The first step: a record it finds missing or not `processing` fails the run and is left alone.
    static let fetchStep = "fetch-import"
    /// The most row errors kept in an import's error log (the count stays exact).
    public static let errorLogLimit = 1000
    /// Chunks imported at once: the store applies those that meet in one transaction. More at once
    /// make fewer, larger commits, each rewriting the email index's pages once: 96 commit 100,000
    /// rows in about 13 transactions, 32 in 28, with a fifth fewer log writes.
    public static let chunksAtOnce = 96

    struct EventData: Decodable {
        var importId: String
        var workspaceId: String?
        var userId: String?
    }

    public static func function(_ services: FolksbaseServices) -> SpoolFunction {
        SpoolFunction(
            id: id, trigger: .event(event),
            handler: { context in
                let data = try context.event.decodeData(EventData.self)
                let directory = try await context.directory()
                let chunks = directory + "/chunks"
                let record = try await context.step.run(fetchStep) { _ in
                    try await ProcessingRecord.require("import", id: data.importId, status: \ImportRecord.status) {
                        try await services.store.importRecord(id: data.importId)
                    }
                }
                let plan = try await context.step.run("download-and-chunk") { _ in
                    // A folder of its own: a file named like the run's own files (run.json) stays apart.
                    let downloads = directory + "/download"
                    try await services.writer.makeDirectory(downloads)
                    let source: String
                    do {
                        source = try await services.blobs.localFile(for: record.blobUrl, downloadingInto: downloads)
                    } catch  where PermanentBlobFailure.matches(error) {
                        throw NonRetriableError("the import's file cannot be read: \(error)")
                    }
                    let plan = try await services.chunker.chunk(source, into: chunks)
                    _ = try ContactColumns(header: plan.header, mapping: record.columnMapping)
                    return plan
                }
                let columns = try ContactColumns(header: plan.header, mapping: record.columnMapping)
                let turns = StepTurns(count: plan.chunks.count)
                let chunkResults = try await context.step.runEach(
                    plan.chunks.indices.map { "process-chunk-\($0 + 1)" }, atOnce: chunksAtOnce, turns: turns
                ) { index, _ in
                    try await services.importer.importChunk(
                        plan.chunks[index], number: index + 1, folder: chunks, columns: columns, record: record,
                        turn: turns.turn(index))
                }
                let finished = try await context.step.run("finalize") { _ in
                    let results = chunkResults
                    let errors = results.flatMap(\.errors).sorted { $0.row < $1.row }
                    return try await services.store.completeImport(
                        id: record.id, totalRows: plan.totalRows, inserted: results.reduce(0) { $0 + $1.inserted },
                        updated: results.reduce(0) { $0 + $1.updated }, skipped: results.reduce(0) { $0 + $1.skipped },
                        errorLog: Array(errors.prefix(errorLogLimit)),
                        errorCount: results.reduce(0) { $0 + $1.skipped })
                }
                _ = try await context.step.run("notify") { step -> String? in
                    guard try await services.store.settings(workspaceID: record.workspaceId).notifyOnImport,
                        let user = try await services.store.user(id: record.userId)
                    else { return nil }
                    return try await UndeliverableEmail.sendOrSayWhyNot(
                        "the email that import \(record.id) completed", logger: context.logger
                    ) {
                        try await services.notifications.sendImportCompleted(
                            finished, to: user, idempotencyKey: step.idempotencyKey)
                    }
                }
            },
            onFailure: { context in
                try await JobFailure.record(
                    "import", context: context, services: services, fetchStep: fetchStep,
                    markFailed: { id, error in try await services.store.failImport(id: id, error: error).status },
                    recordID: { try $0.decodeData(EventData.self).importId },
                    userID: { try $0.decodeData(EventData.self).userId })
            })
    }
}
