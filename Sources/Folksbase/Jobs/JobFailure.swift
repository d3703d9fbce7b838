import SpoolEngine

/// The `onFailure` of the import and export jobs: mark the record failed, then a best-effort email.
///
/// A run that found its record missing or no longer `processing` (`ProcessingRecord`, in the
/// `fetchStep`) leaves it alone and sends nothing: the record was never that run's to fail, as when
/// `spool replay` restarts an import that completed. A record that completed before the run failed
/// (its `notify` step failed) stays completed, and no failure email goes out for it.
enum JobFailure {
    /// `markFailed` returns the record's status afterwards: `completed` records are left as they are.
    static func record(
        _ job: String, context: FailureContext, services: FolksbaseServices, fetchStep: String,
        markFailed: @escaping @Sendable (String, String) async throws -> JobStatus,
        recordID: (Event) throws -> String, userID: (Event) throws -> String?
    ) async throws {
        if context.error.step == fetchStep && context.error.nonRetriable == true {
            context.logger.info("\(job) run \(context.runID) did not take its record: \(context.error.message)")
            return
        }
        let id = try recordID(context.event)
        let message = context.error.message
        let status = try await context.step.run("mark-failed") { _ in try await markFailed(id, message) }
        guard status == .failed else {
            let step = context.error.step ?? "no step"
            context.logger.info(
                "\(job) \(id) stays \(status.rawValue): its run failed after it, at \(step); no failure email goes out")
            return
        }
        let userID = try? userID(context.event)
        _ = try await context.step.run("notify-failure", retries: 0) { step -> Bool in
            do {
                guard let userID, let user = try await services.store.user(id: userID) else { return false }
                _ = try await services.notifications.sendJobFailed(
                    "\(job) \(id)", error: message, to: user, idempotencyKey: step.idempotencyKey)
                return true
            } catch {
                context.logger.warning("the failure email for \(job) \(id) could not be sent: \(error)")
                return false
            }
        }
    }
}
