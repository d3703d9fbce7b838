import Foundation
import SpoolEngine

/// Composes folksbase's emails and hands them to the mailer; Message-IDs come from step keys,
/// so a step that runs twice sends (or overwrites) the same message rather than a second one.
public struct NotificationService: Sendable {
    let mailer: any Mailer
    let templates: EmailTemplates
    let clock: any SpoolClock

    /// Sends the welcome email; returns its Message-ID.
    public func sendWelcome(to user: User, workspaceName: String?, idempotencyKey: String) async throws -> String {
        try await send(
            templates.welcome(
                user: user, workspaceName: workspaceName, idempotencyKey: idempotencyKey, date: clock.now()))
    }

    /// Sends one recipient's weekly digest of a workspace; returns its Message-ID.
    public func sendDigest(_ summary: WorkspaceSummary, to recipient: User, idempotencyKey: String) async throws
        -> String
    {
        try await send(
            templates.weeklyDigest(summary, recipient: recipient, idempotencyKey: idempotencyKey, date: clock.now()))
    }

    public func sendImportCompleted(_ record: ImportRecord, to user: User, idempotencyKey: String) async throws
        -> String
    {
        try await send(
            templates.importCompleted(record, recipient: user, idempotencyKey: idempotencyKey, date: clock.now()))
    }

    public func sendExportCompleted(_ record: ExportRecord, to user: User, idempotencyKey: String) async throws
        -> String
    {
        try await send(
            templates.exportCompleted(record, recipient: user, idempotencyKey: idempotencyKey, date: clock.now()))
    }

    public func sendJobFailed(_ job: String, error: String, to user: User, idempotencyKey: String) async throws
        -> String
    {
        try await send(
            templates.jobFailed(job, error: error, recipient: user, idempotencyKey: idempotencyKey, date: clock.now()))
    }

    private func send(_ message: EmailMessage) async throws -> String {
        try await mailer.send(message)
        return message.messageID
    }
}
