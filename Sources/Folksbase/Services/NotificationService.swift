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
        let message = templates.welcome(
            user: user, workspaceName: workspaceName, idempotencyKey: idempotencyKey, date: clock.now())
        try await mailer.send(message)
        return message.messageID
    }

    /// Sends one recipient's weekly digest of a workspace; returns its Message-ID.
    public func sendDigest(_ summary: WorkspaceSummary, to recipient: User, idempotencyKey: String) async throws
        -> String
    {
        let message = templates.weeklyDigest(
            summary, recipient: recipient, idempotencyKey: idempotencyKey, date: clock.now())
        try await mailer.send(message)
        return message.messageID
    }
}
