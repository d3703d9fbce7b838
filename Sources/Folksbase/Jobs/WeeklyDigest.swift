import Foundation
import SpoolEngine

/// `weekly-digest` on cron `0 8 * * 1` (UTC): one step per workspace summary, one per recipient email.
public enum WeeklyDigest {
    public static let id = "weekly-digest"
    public static let schedule = "0 8 * * 1"

    struct TickData: Decodable {
        var scheduledAt: String
    }

    struct Digest: Codable, Sendable {
        var summary: WorkspaceSummary
        var recipients: [User]
    }

    public static func function(_ services: FolksbaseServices) -> SpoolFunction {
        SpoolFunction(id: id, trigger: .cron(try! CronExpression(schedule))) { context in
            let tick = try context.event.decodeData(TickData.self)
            guard let until = UTCTime.parseISO8601(tick.scheduledAt) else {
                throw NonRetriableError("scheduledAt \(tick.scheduledAt) is not an ISO-8601 time")
            }
            let since = until.addingTimeInterval(-7 * 24 * 3600)
            let workspaces = try await context.step.run("list-workspaces") { _ in
                try await services.store.digestWorkspaces().map(\.id)
            }
            for workspaceID in workspaces {
                let digest = try await context.step.run("summary-\(workspaceID)") { _ in
                    Digest(
                        summary: try await services.store.workspaceSummary(
                            workspaceID: workspaceID, since: since, until: until),
                        recipients: try await services.store.digestRecipients(workspaceID: workspaceID))
                }
                for recipient in digest.recipients {
                    _ = try await context.step.run("email-\(workspaceID)-\(recipient.id)") { step in
                        // The others still get theirs, and the step file says why not this one.
                        try await UndeliverableEmail.sendOrSayWhyNot(
                            "the weekly digest for user \(recipient.id)", logger: context.logger
                        ) {
                            try await services.notifications.sendDigest(
                                digest.summary, to: recipient, idempotencyKey: step.idempotencyKey)
                        }
                    }
                }
            }
        }
    }
}
