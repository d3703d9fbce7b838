import SpoolEngine

/// `process-export` on `export/csv.confirmed` {exportId, workspaceId, userId}: fetch the export, write
/// keyset pages of contacts into part files, upload them as one CSV object, finalize, notify.
public enum ProcessExport {
    public static let id = "process-export"
    public static let event = "export/csv.confirmed"
    /// The first step: a record it finds missing or not `processing` fails the run and is left alone.
    static let fetchStep = "fetch-export"

    struct EventData: Decodable {
        var exportId: String
        var workspaceId: String?
        var userId: String?
    }

    public static func function(_ services: FolksbaseServices) -> SpoolFunction {
        SpoolFunction(
            id: id, trigger: .event(event),
            handler: { context in
                let data = try context.event.decodeData(EventData.self)
                let folder = try await context.directory() + "/parts"
                let record = try await context.step.run(fetchStep) { _ in
                    try await ProcessingRecord.require("export", id: data.exportId, status: \ExportRecord.status) {
                        try await services.store.exportRecord(id: data.exportId)
                    }
                }
                var parts: [ContactExporter.Part] = []
                repeat {
                    let number = parts.count + 1
                    let after = parts.last?.cursor
                    parts.append(
                        try await context.step.run("write-part-\(number)") { _ in
                            try await services.exporter.writePart(
                                number, workspaceID: record.workspaceId, after: after, folder: folder)
                        })
                } while parts.last!.more
                let written = parts
                let url = try await context.step.run("upload") { _ in
                    try await services.exporter.upload(written, folder: folder, exportID: record.id)
                }
                let finished = try await context.step.run("finalize") { _ in
                    try await services.store.completeExport(
                        id: record.id, blobURL: url, rowCount: written.reduce(0) { $0 + $1.rows })
                }
                _ = try await context.step.run("notify") { step -> String? in
                    guard try await services.store.settings(workspaceID: record.workspaceId).notifyOnExport,
                        let user = try await services.store.user(id: record.userId)
                    else { return nil }
                    return try await UndeliverableEmail.sendOrSayWhyNot(
                        "the email that export \(record.id) completed", logger: context.logger
                    ) {
                        try await services.notifications.sendExportCompleted(
                            finished, to: user, idempotencyKey: step.idempotencyKey)
                    }
                }
            },
            onFailure: { context in
                try await JobFailure.record(
                    "export", context: context, services: services, fetchStep: fetchStep,
                    markFailed: { id, error in try await services.store.failExport(id: id, error: error).status },
                    recordID: { try $0.decodeData(EventData.self).exportId },
                    userID: { try $0.decodeData(EventData.self).userId })
            })
    }
}
