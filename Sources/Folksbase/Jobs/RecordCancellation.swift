import SpoolEngine

/// `record-cancellation` on `spool/run.cancelled`: an import or export whose run `spool cancel`
/// stopped is marked failed, saying so, instead of staying `processing`. A record no longer
/// `processing` is left as it is: it completed, or it failed already and says why. No email:
/// whoever cancelled the run knows.
public enum RecordCancellation {
    public static let id = "record-cancellation"

    struct CancelledRun: Decodable {
        struct Trigger: Decodable {
            struct Data: Decodable {
                var importId: String?
                var exportId: String?
            }
            var data: Data?
        }
        var runId: String
        var functionId: String
        var event: Trigger?
    }

    public static func function(_ services: FolksbaseServices) -> SpoolFunction {
        SpoolFunction(id: id, trigger: .event(RunCancelled.eventName)) { context in
            let run = try context.event.decodeData(CancelledRun.self)
            let reason = "cancelled: `spool cancel` stopped run \(run.runId)"
            if run.functionId == ProcessCSV.id, let importID = run.event?.data?.importId {
                _ = try await context.step.run("mark-import-failed") { _ in
                    try await failIfProcessing(try await services.store.importRecord(id: importID)?.status) {
                        try await services.store.failImport(id: importID, error: reason).status
                    }
                }
            } else if run.functionId == ProcessExport.id, let exportID = run.event?.data?.exportId {
                _ = try await context.step.run("mark-export-failed") { _ in
                    try await failIfProcessing(try await services.store.exportRecord(id: exportID)?.status) {
                        try await services.store.failExport(id: exportID, error: reason).status
                    }
                }
            }
        }
    }

    /// The record's status afterwards: `fail`'s if it was `processing`, else as it was; nil if it is gone.
    private static func failIfProcessing(_ status: JobStatus?, _ fail: () async throws -> JobStatus) async throws
        -> JobStatus?
    {
        guard status == .processing else { return status }
        return try await fail()
    }
}
